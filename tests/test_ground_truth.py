"""The pipeline finds exactly the filters planted in a hand-set model (issue: core pipeline, section 8)."""

from __future__ import annotations

import numpy as np
import pytest

import catsel

from planted import RGB, SIZE, planted_model

EXPECTED = {(layer, unit, c) for layer in ("conv1", "conv2", "dense") for unit, c in ((0, "red"), (1, "green"), (2, "blue"))}


@pytest.mark.parametrize("index", ["paper", "unit_contrast", "repo"])
def test_pipeline_finds_exactly_the_planted_filters(planted_folder, tmp_path, index):
    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    assert amodel.preprocess == "raw" and amodel.image_size == SIZE
    acts = catsel.capture(amodel, catsel.ImageFolder(planted_folder, image_size=SIZE), tmp_path / "out",
                          batch_size=5, progress=False, summaries=index == "repo")  # repo reads the spatial means
    table = catsel.selectivity(acts, index=index)
    found = {(r.layer, r.unit, r.category) for r in table[table.selective].itertuples()}
    assert found == EXPECTED
    if index == "paper":
        planted = table.set_index(["layer", "unit", "category"]).loc[sorted(EXPECTED), "selectivity"]
        np.testing.assert_allclose(planted, 1.0, atol=1e-6)
        dot = table[(table.layer == "conv1") & (table["unit"] == 3)]
        np.testing.assert_allclose(dot.selectivity, 1 / 3, atol=1e-6)  # balanced: exactly chance
    units = table.drop_duplicates(["layer", "unit"]).set_index(["layer", "unit"])
    assert units.loc[("conv1", 4), "silent"] and units.loc[("conv1", 5), "constant"]
    assert not units.loc[("conv1", 5), "silent"]
    summary = catsel.layer_summary(table)
    row = summary.query("layer == 'conv1' and category == 'red'").iloc[0]
    assert (row.n_units, row.n_selective, row.n_silent, row.n_constant) == (6, 1, 1, 2)


def test_positions_point_at_the_planted_patch(planted_folder, tmp_path):
    amodel = catsel.activation_model(planted_model(), layers=["conv1"])
    folder = catsel.ImageFolder(planted_folder, image_size=SIZE)
    acts = catsel.capture(amodel, folder, tmp_path / "out", progress=False)
    pos = acts.positions("conv1")
    assert acts.map_shape("conv1") == (SIZE, SIZE)
    for i, (rel, label) in enumerate(zip(acts.paths, acts.labels)):
        category = acts.categories[label]
        detector = ["red", "green", "blue"].index(category)
        r, c = divmod(int(pos[i, detector]), SIZE)
        img = catsel.load_image(planted_folder / rel, SIZE)
        assert tuple(img[r, c]) == RGB[category]
