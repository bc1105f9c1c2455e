"""The fourth fault campaign's rows on inputs (docs/reliability.md, issue #49): every array read is checked
against its file before anything is allocated, brain data knows what it is, and options are checked against
the data before any work. Each test failed before its fix."""

from __future__ import annotations

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
