"""Activation maximisation (issue: filter visualisation): it drives the unit, finds the planted feature,
is seeded, and has a working gradient step on every installed backend."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from catsel.network.keras.backends import value_and_grad
from catsel.network.maximise import maximise, maximise_many
from planted import planted_model
from helpers import small_cnn

COLOURS = {0: 0, 1: 1, 2: 2}  # planted conv1 filter → RGB channel it detects


@pytest.mark.parametrize("unit", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_planted_colour_filters_get_pictures_of_their_colour(unit):
    result = maximise(planted_model(), "conv1", unit, steps=128, seed=0)
    mean = result.image.reshape(-1, 3).astype(float).mean(axis=0)
    channel = COLOURS[unit]
    others = [c for c in range(3) if c != channel]
    assert mean[channel] > max(mean[others]) + 10, mean
    assert result.start == 0.0  # silent on the starting image
    assert result.final > 0.3  # ... and active on its picture


@pytest.mark.slow
def test_the_unit_is_driven_far_above_its_value_on_the_starting_noise():
    net = small_cnn(size=32)
    for layer, unit in (("c2", 1), ("fc", 2)):
        result = maximise(net, layer, unit, steps=96, seed=1, preprocess="tf")
        assert result.final > 20 * max(result.start, 1e-3), (layer, result.start, result.final)
        assert result.trace[-10:].mean() > result.trace[:10].mean()


def test_seeded_and_reproducible():
    a = maximise(planted_model(), "conv1", 2, steps=16, seed=3)
    b = maximise(planted_model(), "conv1", 2, steps=16, seed=3)
    c = maximise(planted_model(), "conv1", 2, steps=16, seed=4)
    assert np.array_equal(a.image, b.image) and not np.array_equal(a.image, c.image)


def test_pixel_parameterisation_and_no_transformations():
    result = maximise(planted_model(), "conv1", 0, steps=64, parameterisation="pixel", decorrelate=False,
                      robustness=None)
    mean = result.image.reshape(-1, 3).astype(float).mean(axis=0)
    assert mean[0] > mean[1] + 10 and mean[0] > mean[2] + 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="has 6 units"):
        maximise(planted_model(), "conv1", 6, steps=1)
    with pytest.raises(ValueError, match="parameterisation"):
        maximise(planted_model(), "conv1", 0, steps=1, parameterisation="wavelet")


def test_value_and_grad_on_this_backend():
    x = keras.ops.convert_to_tensor(np.array([1.0, -2.0, 3.0], np.float32))
    value, (grad,) = value_and_grad(lambda p: keras.ops.sum(p[0] ** 2))([x])
    assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(14.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad), [2.0, -4.0, 6.0])


SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import keras, numpy as np
from catsel.network.keras.backends import value_and_grad
from catsel.network.maximise import maximise, maximise_many
from planted import planted_model
x = keras.ops.convert_to_tensor(np.array([1.0, -2.0, 3.0], np.float32))
value, (grad,) = value_and_grad(lambda p: keras.ops.sum(p[0] ** 2))([x])
result = maximise(planted_model(), "conv1", 0, steps=96, seed=0)
print(json.dumps({"backend": keras.backend.backend(), "grad": keras.ops.convert_to_numpy(grad).tolist(),
                  "rgb": result.image.reshape(-1, 3).astype(float).mean(axis=0).tolist(),
                  "start": result.start, "final": result.final}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_other_backends_when_installed(backend, module, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: its gradient step is not tested here")
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tests)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend
    np.testing.assert_allclose(out["grad"], [2.0, -4.0, 6.0], rtol=1e-6)
    r, g, b = out["rgb"]
    assert r > max(g, b) + 10 and out["final"] > 0.3 > out["start"]


def test_a_unit_nothing_drives_is_flagged_flat_and_progress_is_shown(capsys):
    # conv1 unit 4 of the planted model has zero weights and bias: no picture can drive it
    result = maximise(planted_model(), "conv1", 4, steps=3, seed=0, progress=True)
    assert result.flat and result.final <= result.start
    assert "picture of conv1/4" in capsys.readouterr().err  # tqdm's bar, with the time left


def test_a_batch_of_units_gives_each_the_picture_it_gets_alone():
    net = small_cnn(size=16)
    units = [("c1", 0), ("c2", 1), ("fc", 2), ("c1", 3)]  # several layers, conv and dense, in one batch
    together = maximise_many(net, units, steps=12, seed=5, preprocess="tf", batch=True)
    apart = maximise_many(net, units, steps=12, seed=5, preprocess="tf", batch=False)
    for a, b in zip(apart, together):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
    assert [(r.layer, r.unit) for r in together] == units
    for (layer, unit), batched in zip(units, together):
        alone = maximise(net, layer, unit, steps=12, seed=5, preprocess="tf")
        assert np.abs(batched.image.astype(int) - alone.image.astype(int)).max() <= 1  # rounding only
        np.testing.assert_allclose(batched.trace, alone.trace, rtol=1e-4, atol=1e-5)
        assert batched.start == pytest.approx(alone.start, rel=1e-5, abs=1e-6)
        assert batched.flat == alone.flat
    with pytest.raises(ValueError, match="has 6 units"):
        maximise_many(planted_model(), [("conv1", 0), ("conv1", 6)], steps=1, batch=True)


def test_a_panel_of_filters_is_optimised_in_one_batch(planted_acts, monkeypatch):
    import catsel
    from catsel.network import maximise as module
    from catsel.figures.visualize import plot_representatives

    calls = []
    batch = module.maximise_many

    def counted(model, units, **kwargs):
        calls.append(list(units))
        return batch(model, units, **kwargs)

    monkeypatch.setattr(module, "maximise_many", counted)
    table = catsel.selectivity(planted_acts)
    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    fig, pictures = plot_representatives(planted_acts, table, "red", amodel, n_units=3, steps=2, return_pictures=True)
    assert len(calls) == 1 and len(calls[0]) == len(pictures) == 3


def test_each_filter_of_a_panel_has_its_top_images_under_it(planted_acts):
    import catsel
    from catsel.figures.visualize import plot_representatives

    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    fig = plot_representatives(planted_acts, catsel.selectivity(planted_acts), "red", amodel, n_units=3, steps=2,
                               k=3)
    fig.draw_without_rendering()  # constrained layout places the axes
    axes = sorted(fig.axes, key=lambda ax: (round(-ax.get_position().y0, 2), ax.get_position().x0))
    pictures, strips = axes[:3], axes[3:]
    assert len(strips) == 3
    for picture, strip, layer in zip(pictures, strips, ["conv1", "conv2", "dense"]):
        p, s = picture.get_position(), strip.get_position()
        assert p.x0 - 0.01 <= (s.x0 + s.x1) / 2 <= p.x1 + 0.01  # under its own filter
        assert strip.images, layer  # a dense unit's column shows its top images too
        assert "top red images" in strip.get_title()
        height, width = strip.images[0].get_array().shape[:2]
        assert width > 2.5 * height  # the three crops side by side, at one size


def test_pictures_for_the_units_of_a_vision_transformer():
    from helpers import small_vit

    network = small_vit(size=16, patch=4)
    dense = [l.name for l in network.layers if isinstance(l, keras.layers.Dense)][0]
    pictures = maximise_many(network, [(dense, 1), (f"{dense}[class]", 1)], steps=24, seed=0, preprocess="tf",
                             batch=True)
    for result in pictures:
        assert result.image.shape == (16, 16, 3)
        assert result.trace[-4:].mean() > result.trace[:4].mean()  # the ascent drives the unit


def test_a_picture_below_the_unit_s_median_image_is_flat_and_made_once_more_without_transformations(monkeypatch):
    import catsel.network.maximise as module

    calls = []
    real = module._maximise_batch

    def counted(model, units, **options):
        calls.append((list(units), options["robustness"]))
        return real(model, units, **options)

    monkeypatch.setattr(module, "_maximise_batch", counted)
    # the red detector rises on its picture, but not to a bar no picture reaches
    high = maximise_many(planted_model(), [("conv1", 0), ("conv1", 1)], steps=128, seed=0, batch=True,
                         typical={("conv1", 0): 1e6, ("conv1", 1): 0.0})
    assert high[0].flat and high[0].retried and high[0].peak < high[0].typical
    assert not high[1].flat and not high[1].retried  # above its bar: not made again
    assert calls[1] == ([("conv1", 0)], module.WEAKER) and not module.WEAKER.active  # only the flat one, once
    assert len(calls) == 2


def test_a_filter_panel_judges_its_picture_against_the_unit_on_real_images(planted_acts):
    import catsel
    from catsel.figures.visualize import plot_unit, plot_representatives

    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    _, pictures = plot_unit(planted_acts, "conv1", 0, amodel, steps=4, return_pictures=True)
    assert pictures[0].typical == pytest.approx(float(np.median(planted_acts["conv1"][:, 0])))
    from dataclasses import replace

    table = catsel.selectivity(planted_acts)
    named = replace(planted_acts, meta=replace(planted_acts.meta, model="resnet50_finetuned_on_faces_and_cars",
                                               weights="fine-tuned from ImageNet, epoch 40"))
    fig = plot_representatives(named, table, "red", amodel, n_units=2, steps=2)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig._suptitle.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # the panel's title is whole


def test_a_unit_display_keeps_its_picture_and_draws_again_without_computing_it(planted_acts, monkeypatch):
    import catsel
    import catsel.network.maximise as module
    from matplotlib.figure import Figure

    from catsel.figures.visualize import UnitDisplay

    amodel = catsel.activation_model(planted_model(), layers=["conv1", "conv2", "dense"])
    calls = []
    original = module.maximise
    monkeypatch.setattr(module, "maximise", lambda *a, **k: calls.append(1) or original(*a, **k))
    display = UnitDisplay.from_store(planted_acts, "conv1", 0, amodel, k=3, steps=3).plot()
    first = display.pictures_[0]
    assert display.figure_ is not None and len(display.axes_) == 2 and len(calls) == 1
    again = display.plot(Figure())
    assert again is display and display.pictures_[0] is first and len(calls) == 1  # drawn again, not computed
    assert "conv1 unit 0" in display.figure_._suptitle.get_text()


def test_a_retried_picture_says_why_and_many_pictures_say_how_long_before_the_others(capsys):
    """Issue #38: a unit whose first picture came out flat was optimised again under the same progress bar with no
    word, and nothing estimated the time of `visualize --top N`."""
    maximise_many(planted_model(), [("conv1", 0), ("conv1", 1)], steps=8, seed=0, batch=False, progress=True,
                  typical={("conv1", 0): 1e6, ("conv1", 1): 0.0})
    err = capsys.readouterr().err
    assert "pictures: 1 more to make, about" in err
    assert ("picture of conv1/0 came out flat: its maximum" in err and "below the unit's median on the dataset "
            "(1e+06); made once more without the random transformations" in err)


def test_the_convergence_rule_stops_a_plateau_and_not_a_climb():
    from catsel.network.picture import WINDOW, converged

    steps = np.arange(4 * WINDOW, dtype=float)[:, None]
    trace = np.hstack([np.ones_like(steps), 1 + 0.01 * steps, np.full_like(steps, -2.0)])  # plateau, climb, flat
    assert not converged(trace, 2 * WINDOW - 2).any() and not converged(trace, 2 * WINDOW).any()  # windows only
    assert converged(trace, 2 * WINDOW - 1).tolist() == [True, False, True]
    from catsel.network.picture import Convergence

    fixed = Convergence(4 * WINDOW, 3, stop=False)  # converge=False: every step is taken
    assert not any(fixed.after(trace, t, lambda: None) for t in range(4 * WINDOW))


def test_pictures_stop_when_they_converge_and_each_is_still_the_one_it_gets_alone():
    """Issue #50: a picture stopped after a fixed 256 steps, however early it had converged; in a batch, one that
    converges keeps what it had then, while the others go on."""
    net = small_cnn(size=16)
    units = [("c1", 0), ("c2", 1)]
    together = maximise_many(net, units, steps=200, seed=5, preprocess="tf", batch=True, learning_rate=0.3)
    lengths = [len(r.trace) for r in together]
    assert lengths[0] < lengths[1] < 200 and all(n % 32 == 0 for n in lengths), lengths
    alone = maximise(net, "c1", 0, steps=200, seed=5, preprocess="tf", learning_rate=0.3)
    assert len(alone.trace) == lengths[0]
    assert np.abs(together[0].image.astype(int) - alone.image.astype(int)).max() <= 1
    assert together[0].final == pytest.approx(alone.final, rel=1e-4, abs=1e-5)
