"""Eq. 1 and eq. 2 on hand-computed cases (issue: core pipeline, section 6)."""

from __future__ import annotations

import numpy as np
import pytest

from catsel import layer_summary, normalise, selectivity, selectivity_matrix
from helpers import LABELS, UNITS, hand_set_acts as _acts

def test_eq1_min_max_normalisation():
    an = normalise(UNITS[:, :1], eps=0)
    np.testing.assert_allclose(an[:, 0], [1 / 3, 1, 0, 0, 2 / 3])


def test_eq2_by_hand_with_unequal_categories():
    values, chance = selectivity_matrix(UNITS, np.array(LABELS), 2)
    # unit 0: AN = [1/3, 1, 0, 0, 2/3], sum 2 → a: (4/3)/2, b: (2/3)/2
    np.testing.assert_allclose(values[:, 0], [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(values[:, 1], [0, 0])  # silent
    np.testing.assert_allclose(values[:, 2], [0, 0])  # constant
    np.testing.assert_allclose(values[:, 3], [0, 1], rtol=1e-6)
    np.testing.assert_allclose(chance, [0.4, 0.6])


def test_contrast_index_by_hand():
    values, chance = selectivity_matrix(UNITS, np.array(LABELS), 2, index="unit_contrast")
    # unit 0: mean AN on a = 2/3, on b = 2/9
    np.testing.assert_allclose(values[:, 0], [4 / 9, -4 / 9], rtol=1e-6)
    np.testing.assert_allclose(values[:, 3], [-1, 1], rtol=1e-6)
    np.testing.assert_allclose(chance, [0, 0])


def test_paper_index_of_a_unit_without_preference_is_the_chance_level():
    rng = np.random.default_rng(1)
    per_image = rng.random(4)
    a = np.concatenate([per_image, per_image, per_image])[:, None]  # same values in each of 3 categories
    values, chance = selectivity_matrix(a, np.repeat([0, 1, 2], 4), 3)
    np.testing.assert_allclose(values[:, 0], chance, rtol=1e-6)


@pytest.mark.parametrize("index, expected", [("paper", {("conv", 0, "a"), ("fc", 1, "b")}),
                                             ("unit_contrast", {("conv", 0, "a"), ("fc", 1, "b")})])
def test_table_marks_selective_units(index, expected):
    table = selectivity(_acts(), index=index, threshold=0.01)
    assert list(table.columns[:8]) == ["layer", "unit", "category", "selectivity", "chance", "above_chance",
                                       "silent", "constant"]
    assert len(table) == 4 * 2
    got = {(r.layer, r.unit, r.category) for r in table[table.selective].itertuples()}
    assert got == expected
    assert table["layer"].cat.categories.tolist() == ["conv", "fc"]
    silent = table[table.silent][["layer", "unit"]].drop_duplicates().values.tolist()
    assert silent == [["conv", 1]]
    constant = table[table.constant][["layer", "unit"]].drop_duplicates().values.tolist()
    assert constant == [["conv", 1], ["fc", 0]]
    assert set(table["model"]) == {"toy"} and set(table["weights"]) == {"hand-set"}


def test_threshold_is_applied_above_chance():
    # unit 0 for "a": 2/3 - 0.4 = 0.2667 above chance
    assert selectivity(_acts(), threshold=0.26).query("layer == 'conv' and unit == 0 and category == 'a'").selective.item()
    assert not selectivity(_acts(), threshold=0.27).query("layer == 'conv' and unit == 0 and category == 'a'").selective.item()


def test_layer_summary_counts_units_selective_silent_and_constant():
    summary = layer_summary(selectivity(_acts()))
    conv_a = summary.query("layer == 'conv' and category == 'a'").iloc[0]
    assert (conv_a.n_units, conv_a.n_selective, conv_a.proportion, conv_a.n_silent, conv_a.n_constant) == (2, 1, 0.5, 1, 1)
    fc_b = summary.query("layer == 'fc' and category == 'b'").iloc[0]
    assert (fc_b.n_units, fc_b.n_selective, fc_b.n_silent, fc_b.n_constant) == (2, 1, 0, 1)
    assert summary["layer"].astype(str).tolist() == ["conv", "conv", "fc", "fc"]


def test_vectorised_table_matches_a_per_unit_loop():
    rng = np.random.default_rng(3)
    a = rng.gamma(1.0, size=(40, 30)).astype(np.float32)
    labels = rng.integers(0, 4, 40)
    values, _ = selectivity_matrix(a, labels, 4)
    for u in range(a.shape[1]):
        col = a[:, u].astype(np.float64)
        an = (col - col.min()) / (col.max() - col.min() + 1e-7)
        for c in range(4):
            assert values[c, u] == pytest.approx(an[labels == c].sum() / (an.sum() + 1e-7))


def test_literature_indices_match_their_definitions():
    rng = np.random.default_rng(5)
    a = rng.gamma(2.0, size=(30, 7))
    a[:, 3] = 0.0  # silent
    labels = np.repeat([0, 1, 2], 10)
    fsi, chance_fsi = selectivity_matrix(a, labels, 3, index="fsi")
    dprime, chance_d = selectivity_matrix(a, labels, 3, index="dprime")
    auroc, chance_auc = selectivity_matrix(a, labels, 3, index="auroc")
    assert list(chance_fsi) == [0, 0, 0] and list(chance_d) == [0, 0, 0] and list(chance_auc) == [0.5] * 3
    for u in range(7):
        for c in range(3):
            inside, outside = a[labels == c, u], a[labels != c, u]
            total = inside.mean() + outside.mean()
            assert fsi[c, u] == pytest.approx((inside.mean() - outside.mean()) / total if total else 0.0)
            spread = np.sqrt((inside.var() + outside.var()) / 2)
            assert dprime[c, u] == pytest.approx((inside.mean() - outside.mean()) / spread if spread else 0.0)
            pairs = (inside[:, None] > outside[None, :]).mean() + 0.5 * (inside[:, None] == outside[None, :]).mean()
            assert auroc[c, u] == pytest.approx(pairs)
    perfect, _ = selectivity_matrix(np.array([[0.0], [0.0], [2.0], [2.0]]), np.array([0, 0, 1, 1]), 2, index="dprime")
    assert perfect[:, 0].tolist() == [-np.inf, np.inf]


@pytest.mark.parametrize("index", ["fsi", "dprime", "auroc"])
def test_table_with_literature_indices(index):
    table = selectivity(_acts(), index=index, threshold=0.01)
    got = {(r.layer, r.unit, r.category) for r in table[table.selective].itertuples()}
    assert got == {("conv", 0, "a"), ("fc", 1, "b")}


def _public_code_index(maps: np.ndarray, labels: np.ndarray, n_categories: int) -> np.ndarray:
    """The paper's public code, re-implemented from its description: normalise the layer's whole activation
    tensor once (min and max over images, positions and filters; epsilon 1e-18), take the mean over the
    category's images minus the mean over the others at every position, then average over positions."""
    normalised = (maps - maps.min()) / (maps.max() - maps.min() + 1e-18)
    per_category = []
    for c in range(n_categories):
        inside, outside = normalised[labels == c], normalised[labels != c]
        per_category.append(inside.sum(axis=0) / inside.shape[0] - outside.sum(axis=0) / outside.shape[0])
    per_category = np.stack(per_category)  # (C, H, W, F) or (C, F)
    return per_category.mean(axis=(1, 2)) if per_category.ndim == 4 else per_category


def test_repo_index_reproduces_the_public_code(colour_folder, tmp_path):
    import catsel
    import keras
    from helpers import small_cnn

    net = small_cnn(size=12, seed=5)
    layers = ["c1", "c2", "c3", "fc"]
    amodel = catsel.activation_model(net, layers=layers)
    acts = catsel.capture(amodel, catsel.ImageFolder(colour_folder, image_size=12), tmp_path, progress=False,
                          summaries=True)  # the spatial means and minima the public code's index reads
    table = catsel.selectivity(acts, index="repo")
    images = np.stack([acts.image(i) for i in range(len(acts))]).astype("float32")  # raw input, as captured
    full = keras.Model(net.inputs, [net.get_layer(l).output for l in layers]).predict_on_batch(images)
    for layer, maps in zip(layers, full):
        expected = _public_code_index(np.asarray(maps, dtype=np.float64), acts.labels, len(acts.categories))
        got = table[table["layer"] == layer].pivot(index="category", columns="unit", values="selectivity")
        np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-6, err_msg=layer)
    assert (table["chance"] == 0).all()
    # not the per-unit variant: the two indices rank units differently
    contrast = catsel.selectivity(acts, index="unit_contrast")
    assert not np.allclose(contrast["selectivity"], table["selectivity"], atol=1e-3)


def test_repo_index_on_a_store_without_spatial_means_says_what_to_do():
    import catsel

    acts = catsel.Activations.from_arrays({"conv": UNITS[:, :2]}, LABELS, ["a", "b"],
                                          meta={"layers": [{"name": "conv", "units": 2, "map_shape": [3, 3]}]})
    with pytest.raises(catsel.StoreError, match="no spatial minima for conv .given without them.; pass minima="):
        catsel.selectivity(acts, index="repo")


def test_layer_summary_counts_many_layers_and_categories():
    """pandas stores category codes in int8 below 128 categories: layer code × categories overflowed past 127
    (MobileNetV2's 51 layers × 4 categories crashed the run)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    layers, cats = [f"l{i}" for i in range(51)], [f"c{j}" for j in range(4)]
    table = pd.DataFrame({"layer": pd.Categorical(np.repeat(layers, 3 * 4), layers, ordered=True),
                          "unit": np.tile(np.repeat(np.arange(3), 4), 51),
                          "category": pd.Categorical(np.tile(cats, 51 * 3), cats, ordered=True),
                          "selective": rng.random(51 * 3 * 4) < 0.4,
                          "silent": False, "constant": False})
    summary = layer_summary(table)
    expected = table.groupby(["layer", "category"], observed=True)["selective"].sum()
    got = summary.set_index(["layer", "category"])["n_selective"]
    np.testing.assert_array_equal(got.loc[expected.index].to_numpy(), expected.to_numpy())
    assert (summary["n_units"] == 3).all()
