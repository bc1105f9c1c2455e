"""Many categories (issue: beyond one machine): 1,000 categories end to end, Parquet tables, a readable Figure 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import catsel
from catsel.study import pipeline
from helpers import small_cnn

N_CATEGORIES = 1000


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """1,000 categories of 2 small images each, and a small model saved to a file."""
    from PIL import Image

    root = tmp_path_factory.mktemp("thousand")
    rng = np.random.default_rng(0)
    for c in range(N_CATEGORIES):
        folder = root / "data" / f"class{c:04d}"
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    small_cnn(size=12).save(root / "net.keras")
    return root


def test_a_thousand_categories_run_end_to_end(thousand, monkeypatch):
    monkeypatch.setattr(pipeline, "PARQUET_ABOVE", 10_000)  # the table is large for this test's purpose
    out = thousand / "run"
    result = catsel.run(thousand / "data", out, model=str(thousand / "net.keras"), image_size=12, progress=False)
    units = sum(result.activations.units.values())
    assert len(result.table) == units * N_CATEGORIES > 10_000
    assert (out / "selectivity.parquet").exists() and not (out / "selectivity.csv").exists()
    assert "selectivity.parquet" in result.record["outputs"]
    summary = pd.read_csv(out / "layer_summary.csv")
    assert summary["category"].nunique() == N_CATEGORIES and {"null_proportion", "null_high"} <= set(summary)
    back = catsel.load_run(out)
    pd.testing.assert_frame_equal(back.table.reset_index(drop=True), result.table.reset_index(drop=True),
                                  check_dtype=False, check_categorical=False)
    assert (out / "layer_proportions.png").read_bytes()[:4] == b"\x89PNG"
    # Figure 1 is a heat map: one image, not a thousand lines and a thousand-entry legend
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert result.figure(ax=ax) is ax.get_figure()  # the whole figure, whichever axes it was drawn in
    assert len(ax.images) == 1 and len(ax.lines) == 0 and ax.get_legend() is None
    assert ax.images[0].get_array().shape == (N_CATEGORIES, len(result.activations.layers))
    assert len([t for t in ax.get_yticklabels() if t.get_text()]) <= 25
    # a smaller run into the same folder writes CSV again, and the Parquet of the earlier run is gone
    monkeypatch.setattr(pipeline, "PARQUET_ABOVE", 10**9)
    catsel.run(thousand / "data", out, model=str(thousand / "net.keras"), image_size=12, progress=False)
    assert (out / "selectivity.csv").exists() and not (out / "selectivity.parquet").exists()
    assert len(catsel.load_run(out).table) == len(result.table)


def test_tables_format_on_request(colour_folder, tmp_path):
    from catsel.apps.cli import main

    assert main(["run", str(colour_folder), "--out", str(tmp_path / "p"), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1", "--tables", "parquet", "--no-progress"]) == 0
    assert pd.read_parquet(tmp_path / "p" / "selectivity.parquet")["layer"].eq("block1_conv1").all()
    with pytest.raises(catsel.CatselError, match="unknown tables 'xlsx'"):  # from Python: the keyword
        catsel.Settings(tables="xlsx")


def test_the_explorers_pick_among_a_thousand_categories(thousand):
    from matplotlib.collections import PolyCollection

    from catsel.apps import widgets

    acts = catsel.capture(catsel.activation_model(str(thousand / "net.keras"), image_size=12),
                          catsel.ImageFolder(thousand / "data", image_size=12), thousand / "explore", progress=False)
    table = catsel.selectivity(acts)
    th = widgets.explore_thresholds(table)
    assert len(th.figure.axes[0].images) == 1  # all 1,000 chosen: the heat map
    th.categories.value = ("class0007", "class0420")
    th.find.value = "class004"  # narrows the list to class0040-class0049, the chosen ones kept
    assert set(th.categories.options) == {"class0007", "class0420"} | {f"class004{i}" for i in range(10)}
    assert th.categories.value == ("class0007", "class0420")
    assert [t.get_text().split(" ")[0] for t in th.figure.axes[0].get_legend().get_texts()][:2] == [
        "class0007", "class0420"]  # two categories: lines again
    layer = widgets.explore_layer(table)
    bars = [c for c in layer.figure.axes[1].collections if isinstance(c, PolyCollection)]
    assert len(bars) == 12 and list(layer.sort_by.options)[1:] == [f"class{i:04d}" for i in range(12)]
    layer.find.value = "class0999"
    layer.categories.value = ("class0999",)
    bars = [c for c in layer.figure.axes[1].collections if isinstance(c, PolyCollection)]
    assert [b.get_label() for b in bars] == ["class0999"] and list(layer.sort_by.options) == ["unit index",
                                                                                               "class0999"]
    filters = widgets.explore_units(acts, table, layer=acts.layers[0])
    strip = filters.figure.axes[-1]
    assert len(strip.get_yticklabels()) == 12  # the unit's 12 highest categories, not a thousand rows


def test_load_run_reads_the_table_the_run_wrote_not_a_stale_one(colour_folder, tmp_path):
    out = tmp_path / "run"
    result = catsel.run(colour_folder, out, image_size=32, weights="none", layers=["block1_conv1"], tables="parquet",
                        progress=False)
    stale = result.table.copy()
    stale["selectivity"] = -1.0  # an earlier run's table, left beside this run's (a stop between two writes)
    stale.to_csv(out / "selectivity.csv", index=False)
    assert "selectivity.parquet" in result.record["outputs"]
    np.testing.assert_array_equal(catsel.load_run(out).table["selectivity"], result.table["selectivity"])
