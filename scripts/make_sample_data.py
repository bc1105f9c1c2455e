"""Generate catsel's bundled sample data: synthetic face, i-see-face, car and dog images.

The pictures are simple drawings, not photographs: stand-ins with the
study's four-category layout so that the pipeline, the notebooks and the
tests run on a fresh clone with no download. Run with the same Pillow and
NumPy versions, the script writes the same files.

    python scripts/make_sample_data.py [--out sample_data] [--per-category 32] [--size 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CATEGORIES = ("face", "i-see-face", "car", "dog")


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A smooth two-colour gradient with fine noise and a few soft blobs."""
    c0, c1 = rng.integers(40, 230, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img += rng.normal(0, 8, size=img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.integers(2, 6)):
        x, y = rng.integers(0, size, 2)
        r = rng.integers(size // 12, size // 4)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(30, 240, 3)))
    return im.filter(ImageFilter.GaussianBlur(radius=3))


def _colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _face(draw: ImageDraw.ImageDraw, rng, s: int) -> None:
    cx, cy = s / 2 + rng.uniform(-0.1, 0.1) * s, s / 2 + rng.uniform(-0.08, 0.08) * s
    w, h = s * rng.uniform(0.26, 0.34), s * rng.uniform(0.34, 0.42)
    skin = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.45, 1.1) // 1)
    skin = tuple(min(255, v) for v in skin)
    hair = _colour(rng, 10, 120)
    draw.ellipse([cx - w * 1.05, cy - h * 1.08, cx + w * 1.05, cy + h * 0.3], fill=hair)
    draw.ellipse([cx - w, cy - h, cx + w, cy + h], fill=skin)
    ey, ex = cy - h * 0.18, w * 0.42
    er = w * rng.uniform(0.14, 0.2)
    for sx in (-1, 1):
        x = cx + sx * ex
        draw.ellipse([x - er * 1.4, ey - er, x + er * 1.4, ey + er], fill=(250, 250, 250))
        draw.ellipse([x - er * 0.6, ey - er * 0.6, x + er * 0.6, ey + er * 0.6], fill=_colour(rng, 20, 110))
        draw.line([x - er * 1.6, ey - er * 2.2, x + er * 1.6, ey - er * 2.0], fill=hair, width=max(2, s // 60))
    draw.line([cx, ey + er, cx - w * 0.08, cy + h * 0.22, cx + w * 0.05, cy + h * 0.25],
              fill=tuple(int(v * 0.7) for v in skin), width=max(1, s // 80))
    my, mw = cy + h * 0.5, w * rng.uniform(0.3, 0.5)
    smile = rng.uniform(0.05, 0.25) * h
    draw.chord([cx - mw, my - smile, cx + mw, my + smile], 0, 180, fill=(150, 40, 50))


def _i_see_face(draw: ImageDraw.ImageDraw, rng, s: int) -> None:
    """Objects with a face-like layout: a socket, a house front, a mug, a knotted plank."""
    kind = rng.integers(0, 4)
    cx, cy = s / 2 + rng.uniform(-0.1, 0.1) * s, s / 2 + rng.uniform(-0.1, 0.1) * s
    if kind == 0:  # wall socket: two slots and a round ground hole
        r = s * rng.uniform(0.26, 0.34)
        draw.rounded_rectangle([cx - r, cy - r, cx + r, cy + r], radius=r * 0.25, fill=_colour(rng, 190, 255),
                               outline=(120, 120, 120), width=2)
        for sx in (-1, 1):
            x = cx + sx * r * 0.35
            draw.rounded_rectangle([x - r * 0.07, cy - r * 0.45, x + r * 0.07, cy - r * 0.05], radius=2, fill=(30, 30, 30))
        draw.pieslice([cx - r * 0.18, cy + r * 0.2, cx + r * 0.18, cy + r * 0.56], 180, 360, fill=(30, 30, 30))
    elif kind == 1:  # house front: two windows and a door
        w, h = s * rng.uniform(0.3, 0.38), s * rng.uniform(0.22, 0.3)
        wall = _colour(rng, 100, 240)
        draw.polygon([(cx - w * 1.1, cy - h), (cx, cy - h * 2.0), (cx + w * 1.1, cy - h)], fill=_colour(rng, 60, 160))
        draw.rectangle([cx - w, cy - h, cx + w, cy + h * 1.3], fill=wall)
        for sx in (-1, 1):
            x = cx + sx * w * 0.5
            draw.rectangle([x - w * 0.2, cy - h * 0.6, x + w * 0.2, cy - h * 0.05], fill=(40, 60, 90))
        draw.rectangle([cx - w * 0.18, cy + h * 0.35, cx + w * 0.18, cy + h * 1.3], fill=_colour(rng, 40, 120))
    elif kind == 2:  # mug seen from above with two dark bubbles and a spoon-curve
        r = s * rng.uniform(0.28, 0.34)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_colour(rng, 120, 250))
        draw.ellipse([cx - r * 0.82, cy - r * 0.82, cx + r * 0.82, cy + r * 0.82], fill=(110, 70, 40))
        for sx in (-1, 1):
            x = cx + sx * r * 0.3
            draw.ellipse([x - r * 0.12, cy - r * 0.35, x + r * 0.12, cy - r * 0.1], fill=(235, 220, 200))
        draw.arc([cx - r * 0.4, cy - r * 0.1, cx + r * 0.4, cy + r * 0.5], 20, 160, fill=(235, 220, 200), width=3)
    else:  # wooden plank with two knots and a crack
        w, h = s * rng.uniform(0.36, 0.44), s * rng.uniform(0.25, 0.32)
        wood = tuple(int(v) for v in np.array([170, 120, 70]) * rng.uniform(0.7, 1.2))
        wood = tuple(min(255, v) for v in wood)
        draw.rectangle([cx - w, cy - h, cx + w, cy + h], fill=wood)
        for k in range(8):
            y = cy - h + (k + 0.5) * 2 * h / 8
            draw.line([cx - w, y, cx + w, y + rng.uniform(-3, 3)], fill=tuple(int(v * 0.85) for v in wood), width=1)
        for sx in (-1, 1):
            x = cx + sx * w * 0.35
            draw.ellipse([x - w * 0.1, cy - h * 0.5, x + w * 0.1, cy - h * 0.1], fill=(60, 35, 20))
        draw.line([cx - w * 0.3, cy + h * 0.45, cx, cy + h * 0.55, cx + w * 0.3, cy + h * 0.42], fill=(60, 35, 20), width=3)


def _car(draw: ImageDraw.ImageDraw, rng, s: int) -> None:
    flip = rng.random() < 0.5
    cx, cy = s / 2 + rng.uniform(-0.08, 0.08) * s, s * rng.uniform(0.5, 0.62)
    L, H = s * rng.uniform(0.36, 0.44), s * rng.uniform(0.09, 0.12)
    body = _colour(rng)
    draw.rectangle([0, cy + H * 1.6, s, s], fill=_colour(rng, 60, 130))  # road
    draw.rounded_rectangle([cx - L, cy - H, cx + L, cy + H], radius=H * 0.6, fill=body)
    f = -1 if flip else 1
    top = [(cx - L * 0.55 * f, cy - H), (cx - L * 0.35 * f, cy - H * 2.4), (cx + L * 0.25 * f, cy - H * 2.4),
           (cx + L * 0.5 * f, cy - H)]
    draw.polygon(top, fill=body)
    draw.polygon([(cx - L * 0.45 * f, cy - H * 1.05), (cx - L * 0.31 * f, cy - H * 2.15), (cx - L * 0.02 * f, cy - H * 2.15),
                  (cx - L * 0.02 * f, cy - H * 1.05)], fill=(170, 210, 235))
    draw.polygon([(cx + L * 0.04 * f, cy - H * 1.05), (cx + L * 0.04 * f, cy - H * 2.15), (cx + L * 0.22 * f, cy - H * 2.15),
                  (cx + L * 0.4 * f, cy - H * 1.05)], fill=(170, 210, 235))
    r = H * 0.95
    for wx in (cx - L * 0.6, cx + L * 0.6):
        draw.ellipse([wx - r, cy + H - r, wx + r, cy + H + r], fill=(20, 20, 20))
        draw.ellipse([wx - r * 0.45, cy + H - r * 0.45, wx + r * 0.45, cy + H + r * 0.45], fill=(170, 170, 170))
    lx = cx + L * 0.95 * f
    draw.ellipse([lx - 3, cy - H * 0.5 - 3, lx + 3, cy - H * 0.5 + 3], fill=(255, 240, 150))


def _dog(draw: ImageDraw.ImageDraw, rng, s: int) -> None:
    flip = -1 if rng.random() < 0.5 else 1
    cx, cy = s / 2 + rng.uniform(-0.08, 0.08) * s, s * rng.uniform(0.5, 0.58)
    L, H = s * rng.uniform(0.22, 0.28), s * rng.uniform(0.1, 0.13)
    coat = [(120, 80, 40), (30, 25, 20), (230, 220, 200), (190, 140, 80), (90, 90, 95)][rng.integers(0, 5)]
    coat = tuple(int(min(255, v * rng.uniform(0.85, 1.15))) for v in coat)
    leg_w = H * 0.35
    for lx in (cx - L * 0.7, cx - L * 0.45, cx + L * 0.45, cx + L * 0.7):
        draw.rectangle([lx - leg_w / 2, cy, lx + leg_w / 2, cy + H * 2.2], fill=coat)
    draw.ellipse([cx - L, cy - H, cx + L, cy + H], fill=coat)
    tail = cx - flip * L
    draw.line([tail, cy - H * 0.3, tail - flip * L * 0.35, cy - H * 1.6], fill=coat, width=max(3, int(H * 0.3)))
    hx, hy, hr = cx + flip * L * 1.05, cy - H * 1.3, H * 0.95
    draw.line([cx + flip * L * 0.7, cy - H * 0.2, hx, hy], fill=coat, width=int(H * 0.9))
    draw.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=coat)
    sx = hx + flip * hr * 0.9
    draw.ellipse([sx - hr * 0.6, hy - hr * 0.05, sx + hr * 0.6, hy + hr * 0.55], fill=coat)
    draw.ellipse([sx + flip * hr * 0.45 - 3, hy + 0.02 * hr - 3, sx + flip * hr * 0.45 + 3, hy + 0.02 * hr + 3], fill=(10, 10, 10))
    draw.ellipse([hx + flip * hr * 0.25 - 2.5, hy - hr * 0.35 - 2.5, hx + flip * hr * 0.25 + 2.5, hy - hr * 0.35 + 2.5], fill=(10, 10, 10))
    ear = [(hx - flip * hr * 0.4, hy - hr * 0.6), (hx - flip * hr * 0.9, hy + hr * 0.6), (hx - flip * hr * 0.05, hy + hr * 0.2)]
    draw.polygon(ear, fill=tuple(int(v * 0.7) for v in coat))


_DRAW = {"face": _face, "i-see-face": _i_see_face, "car": _car, "dog": _dog}


def make_image(category: str, index: int, size: int = 128) -> Image.Image:
    """One deterministic picture of ``category`` (seeded by category and index)."""
    seed = [CATEGORIES.index(category), index]
    rng = np.random.default_rng(seed)
    big = size * 2  # draw at twice the size, then shrink: smooth edges
    im = _background(rng, big)
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    _DRAW[category](ImageDraw.Draw(layer), rng, big)
    layer = layer.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, center=(big / 2, big / 2))
    im = Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")
    return im.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "sample_data"))
    parser.add_argument("--per-category", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    out = Path(args.out)
    total = 0
    for category in CATEGORIES:
        folder = out / category
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jpg"):
            old.unlink()
        for i in range(args.per_category):
            path = folder / f"{category}_{i:03d}.jpg"
            make_image(category, i, args.size).save(path, quality=88, optimize=True)
            total += path.stat().st_size
    print(f"wrote {len(CATEGORIES) * args.per_category} images, {total / 1e6:.2f} MB, into {out}")


if __name__ == "__main__":
    main()
