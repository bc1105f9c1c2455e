"""Statistics and controls (issue: statistics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import catsel
from catsel import Activations, stats
from catsel.selecting.indices import selective_units
from planted import SIZE




def _null(units=1500, per=20, seed=0) -> Activations:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), per)
    return Activations.from_arrays({"noise": rng.gamma(2.0, size=(len(labels), units))}, labels, list("abcd"))


def test_false_positive_rate_under_shuffled_labels_is_nominal():
    tested = stats.permutation_test(_null(), permutations=199, seed=1)
    p = tested[tested.category == "a"]["p_value"].to_numpy()  # one test per unit: independent
    low, high = binom.interval(0.99, len(p), 0.05)
    assert low <= (p <= 0.05).sum() <= high
    assert 0.4 < p.mean() < 0.6  # p-values spread over [0, 1] under the null


def test_planted_units_are_significant_and_balanced_ones_are_not(planted_acts):
    tested = stats.permutation_test(planted_acts, permutations=499, seed=0).set_index(["layer", "unit", "category"])
    for layer in ("conv1", "conv2", "dense"):
        for unit, colour in ((0, "red"), (1, "green"), (2, "blue")):
            assert tested.loc[(layer, unit, colour), "p_value"] == pytest.approx(1 / 500)
    dot = tested.loc["conv1"].loc[3]["p_value"]  # the bright-dot unit: the same dots in every category
    assert (dot > 0.3).all()
    assert (tested.loc["conv1"].loc[4]["p_value"] == 1.0).all()  # silent
    beat = stats.must_beat(planted_acts).set_index(["layer", "unit", "category"])
    assert beat.loc[("conv1", 0, "red"), "p_beat"] < 0.001
    assert beat.loc[("conv1", 0, "blue"), "p_beat"] > 0.5
    assert (beat.loc["conv1"].loc[3]["p_beat"] > 0.05).all()
    ttest = stats.must_beat(planted_acts, test="ttest").set_index(["layer", "unit", "category"])
    assert ttest.loc[("dense", 2, "blue"), "p_beat"] < 0.001


def _rare(units=4224, per=50, planted=10, seed=0):
    """Noise units and ``planted`` perfectly separated units per category (issue: trustworthy by default)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), per)
    a = rng.gamma(2.0, size=(len(labels), units))
    truth = {}
    for c in range(4):
        for k in range(planted):
            u = c * planted + k
            a[labels == c, u] = a[:, u].max() + 1 + rng.random(per)  # every image of c above every other
            truth[(u, c)] = True
    return Activations.from_arrays({"layer": a}, labels, list("abcd")), truth


def test_rare_planted_units_are_found_at_the_default_permutations():
    acts, truth = _rare()
    tested = stats.permutation_test(acts, permutations=1000, seed=0)
    assert len(tested) >= 16_000
    q = stats.fdr(tested["p_value"].to_numpy())
    found = tested[q < 0.05]
    true = found.apply(lambda r: (int(r["unit"]), "abcd".index(r["category"])) in truth, axis=1)
    assert true.sum() >= 0.95 * len(truth)  # at least 38 of the 40
    assert (~true).sum() <= 0.05 * max(len(found), 1)  # false-discovery proportion
    refined = tested.loc[[(int(f), "abcd".index(c)) in truth for f, c in zip(tested["unit"], tested["category"])],
                         "permutations"]
    assert (refined > 1000).all()  # the rare units got the resolution they needed; most tests did not
    assert (tested["permutations"] == 1000).mean() > 0.95


def test_no_discoveries_and_nominal_p_values_under_shuffled_labels():
    acts, _ = _rare(units=3000, planted=0, seed=3)
    tested = stats.permutation_test(acts, permutations=1000, seed=4)
    p = tested["p_value"].to_numpy()
    assert (stats.fdr(p) < 0.05).sum() <= 1
    a = tested[tested.category == "a"]["p_value"].to_numpy()  # one test per unit: independent
    low, high = binom.interval(0.99, len(a), 0.05)
    assert low <= (a <= 0.05).sum() <= high
    low, high = binom.interval(0.99, len(a), 0.01)
    assert low <= (a <= 0.01).sum() <= high


def test_each_index_tests_itself():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    unit = np.where(labels == 0, 1.0, 0.0) + rng.normal(0, 0.01, len(labels))  # a's images a little higher ...
    unit[np.flatnonzero(labels == 1)[0]] = 1000.0  # ... and one huge value in b
    acts = Activations.from_arrays({"l": unit[:, None]}, labels, list("abcd"))
    by_index = {}
    for index in ("paper", "auroc"):
        table = stats.add_significance(catsel.selectivity(acts, index=index), acts, permutations=999)
        by_index[index] = table.set_index("category")["p_value"]
    # ranks see a's consistent lead; eq. 2's min-max normalisation is dominated by the one outlier
    assert by_index["auroc"]["a"] < 0.01 and by_index["paper"]["a"] > 0.1


def test_shuffled_null_matches_the_rule_on_noise_and_excess_is_near_zero():
    acts = _null(units=800, per=25, seed=5)
    summary = stats.with_baselines(catsel.layer_summary(catsel.selectivity(acts)), acts, shuffled=True)
    # the paper's rule marks about half of the noise pairs; the null says as much
    assert summary["proportion"].mean() > 0.3
    assert abs(summary["excess"].mean()) < 0.05
    assert (summary["null_high"] >= summary["null_proportion"]).all()


def test_split_half_statistics_have_about_zero_excess_on_noise():
    acts = _null(units=600, per=20, seed=7)
    split = stats.reliability_summary(acts, shuffles=10, seed=1)
    # without a null, noise looks reliable: a correlation over four category means
    assert split["share_reliable"].mean() > 0.2 and split["replication"].mean() > 0.2
    for name in ("replication", "reliability", "share_reliable"):
        assert abs(split[f"{name}_excess"].mean()) < 0.06, name


def test_planted_units_replicate_above_their_null(planted_acts):
    split = stats.reliability_summary(planted_acts, shuffles=10).set_index(["layer", "category"])
    assert (split.loc["conv2", "replication_excess"] > 0.1).all()
    assert (split.loc["conv2", "reliability_excess"] > 0.2).all()  # 3 of its 4 units are planted


def test_a_run_with_reliability_splits_the_halves_once(planted_acts, monkeypatch):
    expected = stats.reliability_summary(planted_acts, shuffles=3)
    halves = stats.split_half(planted_acts)
    calls = []
    original = stats.reliability._split_half
    monkeypatch.setattr(stats.reliability, "_split_half", lambda *a: calls.append(1) or original(*a))
    reused = stats.reliability_summary(planted_acts, shuffles=3, split=halves)
    assert len(calls) == 10 - 1 + 3  # the table's split is the first of the ten, not drawn again
    pd.testing.assert_frame_equal(reused, expected)
    calls.clear()  # halves of another seed are no first split of this one
    pd.testing.assert_frame_equal(stats.reliability_summary(planted_acts, shuffles=3, split=stats.split_half(
        planted_acts, seed=4)), expected)
    assert len(calls) == 1 + 10 + 3


def test_fdr_matches_a_hand_computed_case():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 → BH: 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(stats.fdr(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(stats.fdr(p, "by"), np.array([0.02, 0.04, 0.04, 0.02]) * (1 + 1 / 2 + 1 / 3 + 1 / 4))
    np.testing.assert_allclose(stats.fdr([0.5, 0.9]), [0.9, 0.9])
    with pytest.raises(ValueError):
        stats.fdr(p, "holm")


def test_add_significance_adds_p_and_q_values(planted_acts):
    table = stats.add_significance(catsel.selectivity(planted_acts), planted_acts, permutations=99)
    assert {"p_value", "q_value"} <= set(table.columns)
    assert (table["q_value"] >= table["p_value"]).all()
    planted = table[(table.layer == "conv2") & (table["unit"] == 0) & (table.category == "red")]
    assert planted["q_value"].item() < 0.05


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_true_proportion_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    units, per = 300, 20
    effects = rng.uniform(0, 0.6, units)  # a continuous spread of preferences for category "a"
    labels = np.repeat(np.arange(4), per)

    def dataset(seed):
        r = np.random.default_rng(seed)
        return r.gamma(2.0, size=(len(labels), units)) + (labels[:, None] == 0) * effects * 2.0

    truth = np.mean([selective_units(dataset(10_000 + i), labels, 4, threshold=0.01)[0].mean()
                     for i in range(400)])  # the expected proportion for samples of this size
    trials = 150
    covered = 0
    for i in range(trials):
        acts = Activations.from_arrays({"l": dataset(i)}, labels, list("abcd"))
        row = stats.bootstrap_proportions(acts, n_boot=150, seed=i).query("category == 'a'").iloc[0]
        covered += row.low <= truth <= row.high
    low, high = binom.interval(0.99, trials, 0.95)
    assert low <= covered <= high, covered / trials


def test_shuffled_baseline_and_split_half(planted_acts):
    base = stats.shuffled_baseline(planted_acts, shuffles=10)
    real = catsel.layer_summary(catsel.selectivity(planted_acts))
    merged = real.merge(base, on=["layer", "category"])
    assert len(merged) == 9 and (merged["null_high"] >= merged["null_proportion"]).all()
    halves = stats.split_half(planted_acts, seed=2)
    units = halves.drop_duplicates(["layer", "unit"]).set_index(["layer", "unit"])
    for layer in ("conv1", "conv2", "dense"):
        for unit in range(3):
            assert units.loc[(layer, unit), "reliability"] > 0.99
    chosen = halves.set_index(["layer", "unit", "category"])
    for layer in ("conv1", "conv2", "dense"):  # planted units are chosen on one half and confirmed on the other
        for unit, colour in ((0, "red"), (1, "green"), (2, "blue")):
            assert chosen.loc[(layer, unit, colour), ["selective_a", "selective_b"]].all()
    assert halves["reliability"].between(-1, 1).all()
    replication = halves.attrs["layer_replication"]
    assert list(replication.index) == ["conv1", "conv2", "dense"] and replication.between(0, 1).all()


def test_confound_audit_separates_low_level_from_category_effects():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    luminance = rng.normal(size=120) + labels * 1.5  # categories differ in luminance
    statistics = pd.DataFrame({"luminance": luminance, "contrast": rng.normal(size=120),
                               "colourfulness": rng.normal(size=120), "high_frequency": rng.normal(size=120)})
    by_luminance = 2 * luminance + rng.normal(scale=0.1, size=120)
    by_category = (labels == 2) * 3.0 + rng.normal(scale=0.1, size=120) - 0.0 * luminance
    by_category = by_category + rng.normal(size=120) * 0  # category only, independent of the luminance noise
    acts = Activations.from_arrays({"l": np.stack([by_luminance, by_category], axis=1)}, labels, list("xyz"))
    audit = stats.confound_audit(acts, statistics).set_index("unit")
    assert audit.loc[0, "share_explained"] > 0.95
    assert audit.loc[1, "r2_category_beyond"] > 0.1


def test_phase_scrambled_images_keep_their_amplitude_spectrum(planted_folder, tmp_path):
    out = stats.phase_scramble(catsel.ImageFolder(planted_folder, image_size=SIZE), tmp_path / "scrambled", seed=3)
    folder = catsel.ImageFolder(out, image_size=SIZE)
    assert folder.categories == ("blue", "green", "red") and len(folder) == 24
    original = catsel.load_image(planted_folder / "red" / "0.png", SIZE).astype(float)
    scrambled = catsel.load_image(out / "red" / "0.png", SIZE).astype(float)
    assert np.abs(original - scrambled).mean() > 10
    amp_o = np.abs(np.fft.fft2(original[..., 0]))
    amp_s = np.abs(np.fft.fft2(scrambled[..., 0]))
    assert np.corrcoef(amp_o.ravel(), amp_s.ravel())[0, 1] > 0.9


def test_image_statistics_of_a_capture(planted_acts):
    frame = stats.image_statistics(planted_acts)
    assert list(frame.columns) == ["path", "category", "luminance", "contrast", "colourfulness", "high_frequency"]
    assert len(frame) == 24 and (frame["luminance"] > 0).all()


def test_linear_probe_reads_planted_categories_and_not_noise(planted_acts):
    probe = stats.linear_probe(planted_acts, folds=4).set_index(["layer", "category"])
    assert (probe.loc["conv2", "probe_auroc"] > 0.95).all()
    rng = np.random.default_rng(1)
    noise = Activations.from_arrays({"noise": rng.normal(size=(80, 50))}, np.repeat(np.arange(4), 20), list("abcd"))
    assert abs(stats.linear_probe(noise)["probe_auroc"].mean() - 0.5) < 0.1


def test_complexity_profile_by_hand():
    summary = pd.DataFrame({
        "layer": pd.Categorical(list("aabbcc"), list("abc"), ordered=True),
        "category": pd.Categorical(["x", "y"] * 3, ["x", "y"], ordered=True),
        "n_units": [10, 10, 10, 10, 40, 40],
        "n_selective": [3, 0, 1, 0, 0, 4], "proportion": [0.3, 0.0, 0.1, 0.0, 0.0, 0.1]})
    profile = stats.complexity_profile(summary).set_index("category")
    assert profile.loc["x", "depth"] == pytest.approx((0 * 0.3 + 0.5 * 0.1) / 0.4)
    assert profile.loc["y", "depth"] == 1.0 and profile.loc["y", "in_last_third"] == 1.0
    assert profile.loc["x", "in_first_third"] == pytest.approx(0.75)
    assert profile.loc["x", "n_selective"] == 4


def test_depth_profile_does_not_follow_units_per_layer():
    # a flat 30% in every layer: the profile is flat whatever the layers' sizes
    layers = list("abcdef")
    flat = pd.DataFrame({"layer": pd.Categorical(layers, layers, ordered=True),
                         "category": pd.Categorical(["x"] * 6, ["x"], ordered=True),
                         "n_units": [64, 64, 128, 256, 512, 512]})
    flat["proportion"] = 0.3
    flat["n_selective"] = (flat["n_units"] * 0.3).round().astype(int)
    profile = stats.complexity_profile(flat).iloc[0]
    assert profile["depth"] == pytest.approx(0.5)
    assert profile["in_last_third"] == pytest.approx(profile["in_first_third"])


def test_statistics_run_on_the_public_code_index(planted_acts):
    table = stats.add_significance(catsel.selectivity(planted_acts, index="repo"), planted_acts, permutations=99)
    planted = table.set_index(["layer", "unit", "category"])
    assert planted.loc[("conv2", 0, "red"), "p_value"] < 0.05
    summary = stats.with_baselines(catsel.layer_summary(table), planted_acts, index="repo", shuffled=True,
                                   bootstrap=5)
    from catsel.selecting.tables import Counting

    assert summary["null_proportion"].notna().all() and Counting.of(summary).index == "repo"


@pytest.mark.parametrize("rule", [{"threshold": 0.2}, {"index": "fsi"}])
def test_the_baselines_take_their_rule_as_an_argument_and_refuse_another_counts(planted_acts, rule):
    """The rule is an explicit argument, never read from the table's attrs; a summary counted by another rule
    gets no baseline of this one beside it."""
    counted = catsel.layer_summary(catsel.selectivity(planted_acts, **rule))
    with pytest.raises(ValueError, match=f"counted with {next(iter(rule))}="):
        stats.with_baselines(counted, planted_acts, shuffled=True, shuffles=3)
    same = stats.with_baselines(counted, planted_acts, shuffled=True, shuffles=3, **rule)
    by_hand = stats.shuffled_baseline(planted_acts, shuffles=3, **rule).set_index(["layer", "category"])
    np.testing.assert_allclose(same.set_index(["layer", "category"])["null_proportion"],
                               by_hand.loc[same.set_index(["layer", "category"]).index, "null_proportion"])


def test_a_category_that_differs_in_a_low_level_statistic_is_named_by_default(tmp_path):
    from conftest import write_image
    from helpers import small_cnn

    rng = np.random.default_rng(0)
    for name in ("face", "car", "dog"):
        for i in range(6):
            img = rng.integers(40, 200, size=(12, 12, 3))
            if name == "face":  # every face grayscale, the other categories in colour
                img = np.repeat(img[..., :1], 3, axis=2)
            write_image(tmp_path / "data" / name / f"{i}.png", img)
    with pytest.warns(UserWarning, match="face differs from the other categories in its share of grayscale images "
                                         r"\(100% against 0%\).*confound_audit"):
        result = catsel.run(tmp_path / "data", tmp_path / "out", model=small_cnn(size=12), preprocess="tf",
                            progress=False)
    assert result.record.confounds and "grayscale" in result.record.confounds[0]
    assert "Confound: face differs" in catsel.write_report(result).read_text(encoding="utf-8")
    same = stats.confound_check(catsel.load_activations(tmp_path / "out"), per_category=3)
    assert same[0] == result.record.confounds[0]


def test_categories_alike_in_their_low_level_statistics_raise_no_warning(tmp_path):
    import warnings

    from conftest import write_image
    from helpers import small_cnn

    rng = np.random.default_rng(1)
    for name in ("face", "car", "dog"):  # the same kind of coloured noise in every category
        for i in range(8):
            write_image(tmp_path / "data" / name / f"{i}.png", rng.integers(0, 256, size=(12, 12, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = catsel.run(tmp_path / "data", tmp_path / "out", model=small_cnn(size=12), preprocess="tf",
                            progress=False)
    assert result.record.confounds == ()


def test_the_pairwise_rule_finds_the_planted_detectors(planted_acts):
    table = stats.pairwise_selectivity(planted_acts, layers=["conv1"])
    chosen = table[table["q_pairwise"] < 0.05]
    found = {(int(r.unit), str(r.category)) for r in chosen.itertuples()}
    assert {(0, "red"), (1, "green"), (2, "blue")} <= found  # each colour detector beats every other colour
    assert not chosen["unit"].isin([4, 5]).any()  # the silent and the constant unit never
    assert (table["q_pairwise"] >= table["p_pairwise"] - 1e-12).all()  # corrected: never below the raw p
    ranked = stats.pairwise_selectivity(planted_acts, layers=["conv1"], test="ranksum")
    assert {(0, "red"), (1, "green"), (2, "blue")} <= {
        (int(r.unit), str(r.category)) for r in ranked[ranked["q_pairwise"] < 0.05].itertuples()}


def test_the_pairwise_rule_is_calibrated_under_shuffled_labels():
    rng = np.random.default_rng(0)
    a = rng.gamma(2.0, size=(240, 400))  # no unit prefers any category
    labels = np.repeat(np.arange(3), 80)
    raw, any_found = [], []
    for seed in range(40):
        shuffled = np.random.default_rng(seed).permutation(labels)
        acts = Activations.from_arrays({"l": a}, shuffled, ["x", "y", "z"])
        p = stats.pairwise._pairwise_p(a, shuffled, 3, "welch")
        raw.append(np.nanmean(p < 0.05))  # each one-sided test at 0.05
        any_found.append((stats.pairwise_selectivity(acts)["q_pairwise"] < 0.05).any())
    assert 0.03 <= np.mean(raw) <= 0.07  # the engine's false-positive rate is nominal
    assert np.mean(any_found) <= 0.1  # after FDR over every pair of every unit: a discovery is rare (expect 0.05)


def test_catsel_run_selects_by_the_pairwise_rule(planted_folder, tmp_path):
    from planted import SIZE, planted_model

    from catsel.selecting.tables import selective_rule

    result = catsel.run(planted_folder, tmp_path / "out", model=planted_model(), image_size=SIZE,
                        layers=["conv1"], select_by="pairwise", pairwise_test="ranksum", fdr="by", progress=False)
    table = result.table
    assert {"p_pairwise", "q_pairwise"} <= set(table.columns)
    expected = selective_rule(table["above_chance"], table["constant"], 0.01, q_value=table["q_pairwise"],
                              select_by="pairwise")
    assert (table["selective"].to_numpy() == expected).all()
    assert result.record.select_by == "pairwise" and result.record.pairwise_test == "ranksum"
    assert result.record.fdr == "by"
    assert catsel.load_run(tmp_path / "out").settings.pairwise_test == "ranksum"


def test_a_few_images_per_category_are_not_judged_by_their_means(tmp_path):
    from conftest import write_image

    rng = np.random.default_rng(3)
    for name, (low, high) in {"dark": (0, 90), "light": (160, 255)}.items():  # far apart in luminance
        for i in range(8):
            write_image(tmp_path / name / f"{i}.png", rng.integers(low, high, size=(12, 12, 3)))

    def acts_of(n):
        return Activations.from_arrays({"l": rng.random((2 * n, 3))}, [0] * n + [1] * n, ["dark", "light"],
                                       paths=[f"{c}/{i}.png" for c in ("dark", "light") for i in range(n)],
                                       meta={"root": str(tmp_path), "image_size": 12})

    assert stats.confound_check(acts_of(4)) == []  # four images each: a mean difference says nothing yet
    assert "mean luminance" in stats.confound_check(acts_of(8))[0]  # eight each: the same difference is named


def test_the_confound_check_decodes_a_bounded_number_of_images_whatever_the_categories(monkeypatch):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(300), 20)  # 300 categories of 20 images
    acts = Activations.from_arrays({"l": rng.random((len(labels), 2))}, labels, [f"c{i}" for i in range(300)])
    read = []
    monkeypatch.setattr(Activations, "image", lambda self, row: read.append(row) or np.zeros((4, 4, 3), np.uint8))
    assert stats.confound_check(acts) == []
    assert len(read) == 300 * stats.CONFOUND_MIN_IMAGES  # 2,400 / 300 is 8 each, not 20
    read.clear()
    stats.confound_check(acts, total=100)
    assert len(read) == 300 * stats.CONFOUND_MIN_IMAGES  # never fewer than the means need
