"""Loading a category folder: layout, order, conversions and bad files (issue: core pipeline, section 3)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from catsel import DatasetError, ImageError, ImageFolder, load_image
from conftest import write_image


def test_order_is_category_then_path_and_hidden_files_are_ignored(tmp_path):
    root = tmp_path / "data"
    grey = np.full((4, 4, 3), 128)
    for rel in ["b/2.png", "b/sub/1.png", "b/10.png", "a/z.png", "a/.hidden.png", "a/.cache/x.png", ".trash/q.png"]:
        write_image(root / rel, grey)
    folder = ImageFolder(root, image_size=8)
    assert folder.categories == ("a", "b")
    assert folder.relative_paths() == ["a/z.png", "b/10.png", "b/2.png", "b/sub/1.png"]
    assert folder.labels.tolist() == [0, 1, 1, 1]
    assert folder.counts == {"a": 1, "b": 3}


def test_non_image_files_are_reported_not_loaded(tmp_path):
    root = tmp_path / "data"
    for c in "ab":
        write_image(root / c / "x.png", np.zeros((4, 4, 3)))
    (root / "a" / "notes.txt").write_text("hello")
    folder = ImageFolder(root, image_size=8)
    assert len(folder) == 2
    assert [s.path for s in folder.skipped] == [str(root / "a" / "notes.txt")]
    assert "not an image file" in folder.skipped[0].reason


@pytest.mark.parametrize("layout, message", [
    ({}, "does not exist"),
    ({"only": ["x.png"]}, "at least two"),
    ({"a": ["x.png"], "b": ["readme.txt"]}, "holds no image file"),
])
def test_unusable_folders_name_the_folder_and_the_fix(tmp_path, layout, message):
    root = tmp_path / "data"
    for cat, files in layout.items():
        for f in files:
            if f.endswith(".png"):
                write_image(root / cat / f, np.zeros((4, 4, 3)))
            else:
                (root / cat).mkdir(parents=True, exist_ok=True)
                (root / cat / f).write_text("x")
    with pytest.raises(DatasetError, match=message) as err:
        ImageFolder(root, image_size=8)
    assert str(root) in str(err.value)


def test_max_per_category_keeps_the_first_images(colour_folder):
    folder = ImageFolder(colour_folder, image_size=12, max_per_category=2)
    assert folder.counts == {"blue": 2, "green": 2, "red": 2}
    assert folder.relative_paths()[:2] == ["blue/00.png", "blue/01.png"]


# --- conversions -------------------------------------------------------------

def _uniform(value, size=(6, 6)):
    return np.full(size + (3,), value, dtype=np.uint8)


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"), ("GIF", ".gif"),
                                         ("TIFF", ".tif"), ("WEBP", ".webp")])
def test_every_supported_format_loads_as_rgb_uint8(tmp_path, fmt, suffix):
    path = tmp_path / f"img{suffix}"
    Image.fromarray(_uniform((200, 40, 40), (16, 16))).save(path, format=fmt)
    img = load_image(path, 8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert abs(int(img[..., 0].mean()) - 200) < 12 and img[..., 1].mean() < 60


def test_gif_uses_the_first_frame(tmp_path):
    frames = [Image.fromarray(_uniform(v, (8, 8))) for v in (30, 220)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert abs(load_image(path, 8).mean() - 30) < 3


def test_grey_and_palette_images_become_rgb(tmp_path):
    Image.fromarray(np.full((8, 8), 90, np.uint8), mode="L").save(tmp_path / "g.png")
    assert np.all(load_image(tmp_path / "g.png", 8) == 90)
    Image.fromarray(_uniform((10, 200, 30), (8, 8))).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png", 8)[0, 0], (10, 200, 30), atol=1)


def test_cmyk_jpeg_is_converted(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red in CMYK
    img = load_image(tmp_path / "c.jpg", 8)
    assert img[..., 0].mean() > 200 and img[..., 1].mean() < 50 and img[..., 2].mean() < 50


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 257 * 100, dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert np.all(load_image(tmp_path / "deep.png", 8) == 100)


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :4, 3] = 255  # left half opaque red, right half transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png", 8)
    assert tuple(img[4, 0]) == (255, 0, 0)
    assert tuple(img[4, 7]) == (255, 255, 255)


def _png(path, pixels, depth, colour_type, trns=None):
    """A PNG written byte by byte (not by Pillow): ``pixels`` rows of big-endian samples."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = pixels.shape[:2]
    raw = b"".join(b"\0" + row.tobytes() for row in pixels)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    path.write_bytes(png + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("depth", [8, 16])
def test_grey_png_with_a_transparent_value_is_scaled_and_composited_over_white(tmp_path, depth):
    import struct

    top = 2**depth - 1
    ramp = np.tile(np.linspace(0, top, 16).round().astype(f">u{depth // 8}"), (16, 1))
    ramp[:, :2] = 0  # the transparent value
    _png(tmp_path / "grey.png", ramp, depth, 0, trns=struct.pack(">H", 0))
    img = load_image(tmp_path / "grey.png", 16)
    assert np.all(img[:, :2] == 255)  # transparent: the white background, as for an alpha channel
    expected = np.rint(ramp[:, 2:].astype(float) * 255 / top)
    np.testing.assert_allclose(img[:, 2:, 0], expected, atol=1)  # scaled, not nearly black


def _malformed_mpo(path):
    """A JPEG whose APP2 segment claims to be a multi-picture (MPO) index and is not one."""
    import struct

    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    payload = b"MPF\0" + b"not a TIFF index"
    path.write_bytes(jpeg[:2] + b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:])


def test_a_warning_of_pillow_names_the_image(tmp_path):
    _malformed_mpo(tmp_path / "odd.jpg")
    with pytest.warns(UserWarning) as caught:
        img = load_image(tmp_path / "odd.jpg", 8)
    assert img.mean() == pytest.approx(120, abs=2)  # still used, as a plain JPEG
    assert [str(w.message) for w in caught if "MPO" in str(w.message)] == [
        f"{tmp_path / 'odd.jpg'}: Image appears to be a malformed MPO file, it will be interpreted as a base JPEG file"]
    assert all("site-packages" not in w.filename for w in caught)


def test_the_command_line_prints_a_warning_as_one_line(tmp_path, colour_folder):
    import subprocess
    import sys

    _malformed_mpo(colour_folder / "red" / "odd.jpg")
    proc = subprocess.run([sys.executable, "-m", "catsel", "run", str(colour_folder), "--out", str(tmp_path / "o"),
                           "--image-size", "32", "--weights", "none", "--layers", "block1_conv1", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if "MPO" in l]
    assert lines == [f"catsel: warning: {colour_folder / 'red' / 'odd.jpg'}: Image appears to be a malformed MPO "
                     "file, it will be interpreted as a base JPEG file"]
    assert "site-packages" not in proc.stderr


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((8, 16, 3), np.uint8)
    arr[:, :8] = 255  # white left half of a landscape image
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "r.jpg", 16, fit="squash")
    # displayed upright the image is portrait with the white half on top
    assert img[:6].mean() > 200 and img[-6:].mean() < 50


def test_resize_is_antialiased(tmp_path):
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    Image.fromarray(checker, mode="L").save(tmp_path / "fine.png")
    img = load_image(tmp_path / "fine.png", 16)
    # a 1-pixel checkerboard shrunk 4x is a flat mid grey, not aliased stripes
    assert abs(img.mean() - 127.5) < 2 and img.std() < 3


def test_crop_keeps_the_central_square(tmp_path):
    arr = np.zeros((10, 30, 3), np.uint8)
    arr[:, 10:20] = 255
    write_image(tmp_path / "wide.png", arr)
    assert load_image(tmp_path / "wide.png", 10, fit="crop").min() > 240
    assert load_image(tmp_path / "wide.png", 10, fit="squash").mean() < 128


# --- bad files -----------------------------------------------------------------

def _bad_files(tmp_path):
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good, "JPEG")
    data = good.getvalue()
    files = {
        "empty.jpg": b"",
        "truncated.jpg": data[: len(data) // 3],
        "text.jpg": b"this is not an image\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return {name: tmp_path / name for name in files}


@pytest.mark.parametrize("name, reason", [("empty.jpg", "empty file"), ("truncated.jpg", "cannot be decoded"),
                                          ("text.jpg", "not an image")])
def test_bad_files_raise_an_error_naming_the_file(tmp_path, name, reason):
    path = _bad_files(tmp_path)[name]
    with pytest.raises(ImageError, match=reason) as err:
        load_image(path, 8)
    assert str(path) in str(err.value)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", np.zeros((40, 40, 3)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one line, the error: not Pillow's warning as well
        with pytest.raises(ImageError, match="decompression-bomb"):
            load_image(tmp_path / "big.png", 8)
    write_image(tmp_path / "huge.png", np.zeros((100, 100, 3)))  # over twice the limit: Pillow's own error
    with pytest.raises(ImageError, match="decompression-bomb"):
        load_image(tmp_path / "huge.png", 8)


def test_nothing_is_left_out_of_the_scan_without_a_word(colour_folder, monkeypatch):
    import os

    from catsel.images.folder import ImageFolder

    (colour_folder / "stray.png").write_bytes((colour_folder / "red" / "00.png").read_bytes())
    (colour_folder / "notes.txt").write_text("a file in the data folder itself")
    locked = colour_folder / "red" / "locked"
    locked.mkdir()
    (locked / "hidden.png").write_bytes((colour_folder / "red" / "00.png").read_bytes())
    real = os.scandir

    def scandir(path="."):  # root reads a mode-000 folder all the same: its refusal, as a user gets it
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    folder = ImageFolder(colour_folder, image_size=12)
    reasons = {s.path: s.reason for s in folder.skipped}
    assert "cannot be read" in reasons[str(locked)]
    assert "not in a category folder" in reasons[str(colour_folder / "stray.png")]
    assert str(colour_folder / "notes.txt") not in reasons  # a note beside the folders is no misplaced image
    assert len(folder) == 15
