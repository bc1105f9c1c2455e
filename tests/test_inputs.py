"""The fourth fault campaign's rows on inputs (docs/reliability.md, issue #49): every array read is checked
against its file before anything is allocated, brain data knows what it is, and options are checked against
the data before any work. Each test failed before its fix."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rsatoolbox")

from catsel.brain import BrainRDMs, compare_brain, load_rdms, load_responses  # noqa: E402
from catsel.errors import BrainDataError, CatselError  # noqa: E402
from catsel.store import Activations  # noqa: E402

NAMES = [f"img{i}.png" for i in range(6)]


def _rdm(n=6, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.random((n, n))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    return d


def _huge_header(path):
    np.save(path, np.zeros((3, 3)))
    path.write_bytes(path.read_bytes().replace(b"'shape': (3, 3), ", b"'shape': (999999, 999999), "))


def _write_text(path):
    path.write_text("0,1,2\n1,0,1\n2,1,0\n")


RDM_FILES = {
    "a header claiming 7 TiB": (_huge_header, "header says 999999 × 999999"),
    "a header of another size": (lambda p: p.write_bytes(_saved(_rdm())[:-16]), "cut short or edited"),
    "no matrix": (lambda p: np.save(p, np.zeros((0, 6, 6))), "holds no matrix"),
    "text named .npy": (_write_text, "not a NumPy array file (it is text)"),
    "dates": (lambda p: np.save(p, np.zeros((6, 6), dtype="datetime64[s]")), "dates (datetime64)"),
    "complex numbers": (lambda p: np.save(p, _rdm().astype(complex)), "complex numbers"),
    "true/false": (lambda p: np.save(p, _rdm() > 0.5), "true/false"),
    "negated distances": (lambda p: np.save(p, -_rdm()), "negative"),
    "similarities": (lambda p: np.save(p, 1 - _rdm()), "looks like a similarity matrix"),
    "a constant matrix": (lambda p: np.save(p, 1 - np.eye(6)), "ranks undefined"),
    "all zero": (lambda p: np.save(p, np.zeros((6, 6))), "ranks undefined"),
}


def _saved(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(RDM_FILES))
def test_a_wrong_rdm_file_is_one_line_naming_it_before_anything_is_allocated(tmp_path, case, monkeypatch):
    """A 7 TiB header was an `_ArrayMemoryError`; no matrix a traceback; text was called "Python objects"; dates,
    similarities, negated distances and constant matrices were used, with exit 0."""
    write, said = RDM_FILES[case]
    path = tmp_path / "rdm.npy"
    write(path)
    if case == "a header claiming 7 TiB":  # nothing is read into memory from such a file
        monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load was called"))
    with pytest.raises(BrainDataError) as caught:
        load_rdms(path, NAMES)
    text = str(caught.value)
    assert said in text and "rdm.npy" in text and "\n" not in text


def test_a_sparse_matlab_matrix_gives_the_result_of_the_dense_one(tmp_path):
    from scipy import sparse
    from scipy.io import savemat

    d = _rdm()
    savemat(tmp_path / "sparse.mat", {"rdm": sparse.csc_matrix(d)})
    savemat(tmp_path / "complex.mat", {"rdm": d.astype(complex)})
    np.testing.assert_array_equal(load_rdms(tmp_path / "sparse.mat", NAMES).matrices[0], d)
    with pytest.raises(BrainDataError, match="complex.mat: 'rdm' holds complex numbers"):
        load_rdms(tmp_path / "complex.mat", NAMES)


def _run(n=30, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    maxima = {f"l{k}": rng.normal(size=(n, 12)) for k in range(3)}
    paths = [f"{('face', 'car', 'dog')[c]}/img{i:03d}.png" for i, c in enumerate(labels)]
    return Activations.from_arrays(maxima, labels, ("face", "car", "dog"), paths=paths)


def test_similarities_said_to_be_so_give_the_result_of_their_dissimilarities(tmp_path):
    """A similarity matrix given as --rdm flipped the sign of every correlation, with exit 0."""
    from catsel.apps.cli import main  # noqa: F401  (the flag below is the command's)

    acts = _run()
    names = [p.split("/")[1] for p in acts.paths]
    r = np.corrcoef(np.random.default_rng(1).normal(size=(30, 8)))
    distances = compare_brain(acts, rdm=BrainRDMs((1 - r)[None], names, "d"), random_sets=0, bootstrap=0).table
    np.save(tmp_path / "r.npy", r)
    with pytest.raises(BrainDataError, match="--rdm-kind similarity"):
        compare_brain(acts, rdm=tmp_path / "r.npy", names=names, random_sets=0, bootstrap=0)
    said = compare_brain(acts, rdm=tmp_path / "r.npy", names=names, rdm_kind="similarity", random_sets=0,
                         bootstrap=0)
    np.testing.assert_allclose(said.table["value"], distances["value"], atol=1e-12)
    assert said.record["rdm_kind"] == "similarity"
    np.save(tmp_path / "neg.npy", -(1 - r))  # negated distances: said to be similarities, they are the distances
    negated = compare_brain(acts, rdm=tmp_path / "neg.npy", names=names, rdm_kind="similarity", random_sets=0,
                            bootstrap=0)
    np.testing.assert_allclose(negated.table["value"], distances["value"], atol=1e-12)


def test_a_matrix_constant_on_the_images_the_run_shares_is_one_line_before_any_work(tmp_path, monkeypatch):
    import catsel.brain.analysis as analysis

    acts = _run()
    names = [p.split("/")[1] for p in acts.paths]
    d = 1 - np.eye(40)
    d[30:, :] = d[:, 30:] = 2.0  # varies only through ten images the run does not have
    np.fill_diagonal(d, 0)
    monkeypatch.setattr(analysis, "_rsa_rows", lambda *a, **k: pytest.fail("work began"))
    with pytest.warns(UserWarning, match="not in the run"), pytest.raises(BrainDataError, match="ranks undefined"):
        compare_brain(acts, rdm=BrainRDMs(d[None], names + [f"x{i}.png" for i in range(10)], "d.npy"),
                      random_sets=0, bootstrap=0)


RESPONSE_FILES = {
    "zero columns": (lambda d: np.save(d / "r.npy", np.zeros((6, 0))), "at least one of each"),
    "zero images": (lambda d: np.save(d / "r.npy", np.zeros((0, 3))), "at least one of each"),
    "constant columns": (lambda d: np.save(d / "r.npy", np.ones((6, 3))), "3 of its 3 response columns"),
    "an empty repetition": (lambda d: (d / "r.csv").write_text(
        "image,repetition,v1\n" + "\n".join(f"{n},,{i}" for i, n in enumerate(NAMES))), "have no 'repetition'"),
    "a column of dates": (lambda d: pd.DataFrame({"image": NAMES, "v1": pd.date_range("2020", periods=6)}).to_parquet(
        d / "r.parquet"), "'v1' holds dates"),
    "a header only": (lambda d: (d / "r.csv").write_text("image,v1\n"), "no rows of responses"),
}


@pytest.mark.parametrize("case", list(RESPONSE_FILES))
def test_wrong_responses_are_one_line_naming_the_file(tmp_path, case):
    """Zero columns went on to scikit-learn's error after the work began; an empty repetition was a KeyError;
    constant responses gave empty rows and NumPy's warnings."""
    write, said = RESPONSE_FILES[case]
    write(tmp_path)
    path = next(tmp_path.glob("r.*"))
    with pytest.raises(BrainDataError) as caught:
        load_responses(path, NAMES if path.suffix == ".npy" else None)
    text = str(caught.value)
    assert said in text and path.name in text and "\n" not in text


@pytest.mark.parametrize("options, said", [({"folds": 20}, "folds 20: .* shares 30 images"),
                                           ({"components": 25}, "components 25: .* at most 23")])
def test_encoding_options_are_checked_against_the_images_before_any_work(options, said, monkeypatch):
    """--folds beyond the images was scikit-learn's error, or a fold without images, after the RDM work."""
    import catsel.brain.analysis as analysis
    from catsel.brain import BrainResponses

    acts = _run()
    rng = np.random.default_rng(2)
    data = BrainResponses(rng.normal(size=(30, 2)), list(acts.paths), ["a", "b"], ["a", "b"], None, "r.npy")
    monkeypatch.setattr(analysis, "_encoding_rows", lambda *a, **k: pytest.fail("work began"))
    with pytest.raises(CatselError, match=said):
        compare_brain(acts, responses=data, random_sets=0, bootstrap=0, **options)


def test_the_default_components_fit_the_images_and_the_record_says_how_many():
    from catsel.brain import BrainResponses

    acts = _run()
    rng = np.random.default_rng(2)
    data = BrainResponses(rng.normal(size=(30, 2)), list(acts.paths), ["a", "b"], ["a", "b"], None, "r.npy")
    result = compare_brain(acts, responses=data, random_sets=0, bootstrap=0)
    assert result.record["components"] == 23  # 30 images in 5 folds: each fits on 24


def _damage(folder, name):
    return {
        "its table edited": lambda: (folder / f"{name}.csv").write_text(
            (folder / f"{name}.csv").read_text().replace("0.", "0.9", 1)),
        "its figure removed": lambda: (folder / f"{name}.png").unlink(),
        "its record not JSON": lambda: (folder / f"{name}.json").write_text("{not json"),
        "its record without digests": lambda: (folder / f"{name}.json").write_text(json.dumps(
            {k: v for k, v in json.loads((folder / f"{name}.json").read_text()).items() if k != "files"})),
    }


def test_every_damaged_lesion_record_is_made_again_by_the_next_lesion_and_reused_by_the_one_after(tmp_path, capsys,
                                                                                                  monkeypatch):
    """lesion.csv kept no record: an edited table was read back as the lesion's. The next `catsel lesion` of the
    same request makes it again; the one after reuses it (the minutes of passes are not spent twice)."""
    import catsel
    import catsel.study.lesions as lesions
    from catsel.apps.cli import main
    from test_lesion import SIZE, _folder, _network

    _network().save(tmp_path / "net.keras")
    out = tmp_path / "out"
    assert main(["run", str(_folder(tmp_path / "data")), "--out", str(out), "--model", str(tmp_path / "net.keras"),
                 "--preprocess", "raw", "--image-size", str(SIZE), "--layers", "det,pass,out", "--no-progress"]) == 0
    calls = []
    real = lesions.lesion
    monkeypatch.setattr(lesions, "lesion", lambda *a, **k: calls.append(1) or real(*a, **k))
    request = ["lesion", str(out), "--category", "red", "--layer", "det", "--units", "top:1", "--repeats", "3"]
    assert main(request) == 0
    folder = out / "lesion-red"
    first = (folder / "lesion.csv").read_bytes()
    record = json.loads((folder / "lesion.json").read_text())
    assert set(record["files"]) == {"lesion.csv", "lesion.png"} and record["request"]["category"] == "red"
    capsys.readouterr()
    for damage, make in _damage(folder, "lesion").items():
        make()
        before = len(calls)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            assert main(request) == 0, damage
        assert len(calls) == before + 1, damage  # made again
        assert any("made again" in str(w.message) for w in said), damage
        assert (folder / "lesion.csv").read_bytes() == first, damage
        assert main(request) == 0 and len(calls) == before + 1, damage  # and then reused
        assert "reused" in capsys.readouterr().out
    assert main(request[:-1] + ["4"]) == 0 and len(calls) == 6  # another request is never reused
    monkeypatch.setattr(catsel, "__version__", "0.0.0-other")
    assert main(request[:-1] + ["4"]) == 0 and len(calls) == 7  # nor another catsel's outputs


def test_every_damaged_brain_record_is_left_out_of_the_report_made_again_then_reused(tmp_path, colour_folder, capsys,
                                                                                      monkeypatch):
    """An edited brain.csv was shown by `catsel report` as it was; a brain.json with a non-numeric field was a
    traceback in `report`."""
    import catsel.brain.analysis as analysis
    from catsel.apps.cli import main
    from helpers import small_cnn

    small_cnn(size=12, seed=3).save(tmp_path / "net.keras")
    run = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(run), "--model", str(tmp_path / "net.keras"),
                 "--no-progress"]) == 0
    import catsel

    acts = catsel.load_activations(run)
    np.save(tmp_path / "rdm.npy", _corr(np.random.default_rng(0).normal(size=(len(acts), 5))))
    (tmp_path / "names.txt").write_text("\n".join(acts.paths) + "\n")
    calls = []
    real = analysis.compare_brain
    monkeypatch.setattr(analysis, "compare_brain", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(catsel.brain, "compare_brain", analysis.compare_brain)
    request = ["brain", str(run), "--rdm", str(tmp_path / "rdm.npy"), "--names", str(tmp_path / "names.txt"),
               "--random-sets", "5", "--bootstrap", "5", "--no-progress"]
    assert main(request) == 0 and len(calls) == 1
    first = (run / "brain.csv").read_bytes()
    damages = {**_damage(run, "brain"), "its level not a number": lambda: (run / "brain.json").write_text(json.dumps(
        {**json.loads((run / "brain.json").read_text()), "level": "abc"}))}
    for damage, make in damages.items():
        make()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            assert main(["report", str(run)]) == 0, damage
        report = (run / "report.html").read_text()
        if damage != "its figure removed":  # the table and its record are what the report reads
            assert "Against the brain" not in report and "rerun `catsel brain`" in report, damage
            assert sum("catsel brain" in str(w.message) for w in said) == 1, damage
        capsys.readouterr()
        before = len(calls)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(request) == 0 and len(calls) == before + 1, damage  # made again
        assert (run / "brain.csv").read_bytes() == first, damage
        assert main(request) == 0 and len(calls) == before + 1, damage  # and then reused
        assert "reused" in capsys.readouterr().out
        assert main(["report", str(run)]) == 0 and "Against the brain" in (run / "report.html").read_text()
    (tmp_path / "names.txt").write_text("\n".join(reversed(acts.paths)) + "\n")  # other data: never reused
    assert main(request) == 0 and len(calls) == len(damages) + 2


def _corr(x):
    from scipy.spatial.distance import pdist, squareform

    return squareform(pdist(x, "correlation"))


@pytest.mark.parametrize("folds, said", [(13, "category .* has 12 images"), (1, "at least 2")])
def test_lesion_and_probe_folds_are_checked_against_the_smallest_category_before_any_work(tmp_path, folds, said,
                                                                                          monkeypatch):
    """Folds beyond a category's images left folds without it (scikit-learn's warning, undefined scores), or
    were scikit-learn's error after the network was rebuilt."""
    import catsel
    import catsel.network.models as models
    from catsel.stats import linear_probe
    from catsel.study.lesions import lesion
    from test_lesion import _run, _network

    result, net = _run(tmp_path, _network())
    monkeypatch.setattr(models, "from_store", lambda *a, **k: pytest.fail("work began"))
    with pytest.raises(catsel.CatselError, match=f"folds {folds}: .*{said}"):
        lesion(result, "red", layer="det", units="top:1", repeats=2, folds=folds)
    with pytest.raises(catsel.CatselError, match=f"folds {folds}: .*{said}"):
        linear_probe(result.activations, folds=folds)


def test_a_keras_weights_file_of_another_network_is_refused_before_loading_with_what_it_holds(tmp_path,
                                                                                                monkeypatch):
    """Keras' own refusal was cut at "Example error message for object <Conv2D name=conv1>:", naming neither
    what the file holds nor what the network makes; a file of another configuration of the same layer names
    is now refused from its arrays before Keras reads it."""
    import keras

    import catsel
    from catsel.errors import ModelError

    keras.applications.MobileNet(weights=None, include_top=False, input_shape=(96, 96, 3), alpha=0.25).save_weights(
        tmp_path / "notop.weights.h5")
    monkeypatch.setattr(keras.Model, "load_weights", lambda *a, **k: pytest.fail("the file was loaded"))
    with pytest.raises(ModelError) as caught:
        catsel.activation_model("mobilenet", weights=str(tmp_path / "notop.weights.h5"), image_size=96,
                                layers=["conv1"])
    text = str(caught.value)
    assert "notop.weights.h5 holds 135 arrays and its architecture makes 137" in text and "\n" not in text
    assert "give the weights file saved for this one" in text


def test_a_misspelt_category_gets_the_closest_first_in_every_command(tmp_path, colour_folder, capsys):
    """A wrong category was answered with the whole list of categories (and, in `catsel brain`, "is not in this
    run"), never with the one meant."""
    from catsel.apps.cli import main
    from catsel.options import check_category

    categories = [f"class{i:04d}" for i in range(40)] + ["i-see-face", "face"]
    with pytest.raises(CatselError) as caught:
        check_category("i-see-fcae", categories)
    text = str(caught.value)
    assert text.startswith("no category 'i-see-fcae' in the run; did you mean i-see-face")
    assert "and 31 more" in text and text.count("class") == 10  # at most 10 others
    from helpers import small_cnn

    small_cnn(size=12, seed=3).save(tmp_path / "net.keras")
    run = tmp_path / "run"
    assert main(["run", str(colour_folder), "--out", str(run), "--model", str(tmp_path / "net.keras"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    import catsel

    acts = catsel.load_activations(run)
    wrong = acts.categories[0][:-1] + "x"
    np.save(tmp_path / "rdm.npy", _corr(np.random.default_rng(0).normal(size=(len(acts), 5))))
    (tmp_path / "names.txt").write_text("\n".join(acts.paths) + "\n")
    for command in (["lesion", str(run), "--category", wrong],
                    ["visualize", str(run), "--category", wrong, "--out", str(tmp_path / "v.png")],
                    ["brain", str(run), "--rdm", str(tmp_path / "rdm.npy"), "--names", str(tmp_path / "names.txt"),
                     "--categories", wrong]):
        assert main(command) == 2, command[0]
        err = capsys.readouterr().err
        assert f"no category {wrong!r}" in err and f"did you mean {acts.categories[0]}" in err, command[0]
        assert err.count("\n") == 1, command[0]


@pytest.mark.parametrize("model, meant", [("vgg166", "vgg16"), ("torchvision:resnet81", "resnet18"),
                                          ("timm:resnet5O", "resnet50")])
def test_a_misspelt_model_name_gets_the_closest_first_then_at_most_ten_others(model, meant):
    import catsel
    from catsel.errors import ModelError

    with pytest.raises(ModelError) as caught:
        catsel.activation_model(model, weights="none", image_size=32)
    text = str(caught.value)
    assert f"did you mean {meant}" in text and "\n" not in text
    shown = text.split("valid names include ")[1].split(" and ")[0]
    assert len(shown.split(", ")) == 10
