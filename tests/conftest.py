"""Shared fixtures: small generated image folders and tiny Keras models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"


def write_image(path: Path, array: np.ndarray, **save_kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, **save_kwargs)
    return path


def square_folder(root: Path, counts: dict, *, seed: int, noise: int, box: tuple, value: int, size: int = 16) -> Path:
    """Images of noise below ``noise`` with a square of ``value`` (rows and columns ``box``) in one channel per
    category (red, green, blue, then again), ``counts[name]`` of them per category."""
    rng = np.random.default_rng(seed)
    y0, y1, x0, x1 = box
    for k, (name, count) in enumerate(counts.items()):
        for i in range(count):
            image = rng.integers(0, noise, (size, size, 3), dtype=np.uint8)
            image[y0:y1, x0:x1, k % 3] = value
            write_image(root / name / f"{i:02d}.png", image)
    return root


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    """Three categories of 12x12 images: a red, green or blue square on grey noise."""
    rng = np.random.default_rng(0)
    root = tmp_path / "colours"
    colours = {"blue": (0, 0, 200), "green": (0, 200, 0), "red": (200, 0, 0)}
    for name, rgb in colours.items():
        for i in range(5):
            img = rng.integers(0, 60, size=(12, 12, 1)).repeat(3, axis=2)
            y, x = rng.integers(0, 8, 2)
            img[y:y + 4, x:x + 4] = rgb
            write_image(root / name / f"{i:02d}.png", img)
    return root


@pytest.fixture
def planted_folder(tmp_path) -> Path:
    """Images for the planted model (see planted.py): a colour patch per category, balanced bright dots."""
    from planted import make_planted_folder

    return make_planted_folder(tmp_path)


@pytest.fixture
def planted_acts(planted_folder, tmp_path):
    """The planted model's capture of planted_folder (conv1, conv2, dense), with the spatial means and minima
    (every index can be computed on it)."""
    import catsel
    from planted import SIZE, planted_model

    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    return catsel.capture(amodel, catsel.ImageFolder(planted_folder, image_size=SIZE), tmp_path / "planted-run",
                          progress=False, summaries=True)


@pytest.fixture(scope="module")
def dask_client():
    """A Dask client in this process (no cluster, no other processes): the chunked store's runner, quickly."""
    pytest.importorskip("distributed")
    import warnings

    from distributed import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)
    yield client
    client.close()


@pytest.fixture(scope="module")
def saved_network(tmp_path_factory) -> str:
    """A small CNN (12 px) saved to a file: what a Dask worker can build again."""
    from helpers import small_cnn

    path = tmp_path_factory.mktemp("network") / "net.keras"
    small_cnn(size=12).save(path)
    return str(path)
