"""The explorers in a real browser: JupyterLab and Voilà, driven by headless Chromium (issue: widgets).

Servers listen on 127.0.0.1 with a random token; every request to another host is aborted.
Screenshots go to build/browser/ (CI artefacts). Needs Debian's chromium (installed by .ci/run)
and Playwright for Python; in CI a missing browser is a failure, elsewhere a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # minutes: left out of the quick loop (pytest -m "not slow")

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "build" / "browser"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

if CHROMIUM is None or sync_playwright is None:
    reason = "needs Debian's chromium and Playwright for Python"
    if os.environ.get("CI"):
        raise RuntimeError(f"browser tests {reason}; .ci/run installs both")
    pytest.skip(reason, allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A Jupyter server process on 127.0.0.1, stopped by its own PID."""

    def __init__(self, command: list[str], url: str, tmp: Path, name: str):
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
               "JUPYTER_DATA_DIR": str(tmp / "data"), "JUPYTER_PLATFORM_DIRS": "1"}
        # the kernelspec of this Python (the venv's), found through its own prefix
        env.pop("JUPYTER_PATH", None)
        self.log = open(tmp / f"{name}.log", "w")
        self.proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = url
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}: {(tmp / f'{name}.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except Exception:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{name} did not answer at {url}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def _page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
               else route.abort())
    return page


def _move_threshold(page, value: str) -> None:
    readout = page.locator(".widget-slider .widget-readout").first
    readout.fill(value)
    readout.press("Enter")


def _state(page):
    return page.locator(".catsel-counts").first.inner_text(), page.locator(".widget-image img, img.widget-image").first.get_attribute("src")


def _drive_threshold(page, value: str, name: str) -> None:
    """Move the threshold slider; the counts table and the figure must change, fewer units selective."""
    page.screenshot(path=str(SHOTS / f"{name}-before.png"), full_page=False)
    counts, src = _state(page)
    _move_threshold(page, value)
    expect(page.locator(".catsel-counts").first).not_to_have_text(counts, timeout=30_000)
    new_counts, new_src = _state(page)
    assert new_src != src
    total = lambda text: sum(int(t) for t in text.split() if t.isdigit())  # noqa: E731
    assert total(new_counts) < total(counts)
    page.locator(".catsel-counts").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}-after.png"), full_page=False)


def _selectivity_notebook(tmp_path) -> None:
    """A copy of notebook 03 beside a link to the sample data, run at 64 px (a capture of a few seconds)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    SHOTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data")
    nb = load_notebook_node(str(REPO / "notebooks" / "03_selectivity.ipynb"))
    nb = parameterize_notebook(nb, {"image_size": 64})
    nbformat.write(nb, tmp_path / "notebooks" / "03_selectivity.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


@pytest.mark.parametrize("app, path, idle", [
    ("lab", "lab/tree/notebooks/03_selectivity.ipynb", "| Idle"),
    ("notebook", "notebooks/notebooks/03_selectivity.ipynb", None),  # classic Notebook 7
])
def test_threshold_explorer_in_jupyter(browser, tmp_path, app, path, idle):
    _selectivity_notebook(tmp_path)
    port, token = _free_port(), secrets.token_hex(16)
    server = Server([sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root",
                     "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                     f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
                     f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
                    f"http://127.0.0.1:{port}/login", tmp_path, app)
    page = _page(browser)
    try:
        page.goto(f"http://127.0.0.1:{port}/{path}?token={token}")
        expect(page.locator(".jp-Notebook").first).to_be_visible(timeout=60_000)
        if idle:
            expect(page.get_by_text(idle).first).to_be_visible(timeout=90_000)
        else:  # Notebook 7 shows the kernel state as an icon: wait for it to be idle
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_attached(
                timeout=90_000)
            page.wait_for_timeout(2000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        expect(page.locator(".catsel-counts").first).to_be_visible(timeout=240_000)
        expect(page.locator(".widget-slider .noUi-handle").first).to_be_visible()
        _drive_threshold(page, "0.200", "jupyterlab" if app == "lab" else "notebook7")
    except Exception:
        page.screenshot(path=str(SHOTS / f"{app}-failure.png"), full_page=False)
        raise
    finally:
        page.close()
        server.stop()


def test_catsel_explore_dashboard_in_voila(browser, tmp_path):
    from catsel.apps.cli import main

    SHOTS.mkdir(parents=True, exist_ok=True)
    run = tmp_path / "run"
    assert main(["run", str(REPO / "sample_data"), "--out", str(run), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block3_conv3,block5_conv3", "--no-progress"]) == 0
    port, token = _free_port(), secrets.token_hex(16)
    server = Server([sys.executable, "-m", "catsel", "explore", str(run), "--port", str(port), "--token", token,
                     "--no-browser"], f"http://127.0.0.1:{port}/?token={token}", tmp_path, "voila")
    page = _page(browser)
    try:
        page.goto(f"http://127.0.0.1:{port}/?token={token}")
        expect(page.locator(".catsel-counts").first).to_be_visible(timeout=120_000)
        assert "load_activations" not in page.inner_text("body")  # a dashboard: no code on screen
        _drive_threshold(page, "0.300", "voila")
    except Exception:
        page.screenshot(path=str(SHOTS / "voila-failure.png"), full_page=False)
        raise
    finally:
        page.close()
        server.stop()


def test_catsel_explore_leaves_no_process_behind_after_sigterm(tmp_path):
    import signal

    import psutil
    from catsel.apps.cli import main

    run = tmp_path / "run"
    assert main(["run", str(REPO / "sample_data"), "--out", str(run), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1", "--limit", "4", "--no-progress"]) == 0
    port, token = _free_port(), secrets.token_hex(16)
    # answering the page starts Voila's kernel: the processes a teacher's laptop was left with
    server = Server([sys.executable, "-m", "catsel", "explore", str(run), "--port", str(port), "--token", token,
                     "--no-browser"], f"http://127.0.0.1:{port}/?token={token}", tmp_path, "voila-sigterm")
    family = [server.proc.pid, *(c.pid for c in psutil.Process(server.proc.pid).children(recursive=True))]
    assert len(family) >= 3  # catsel explore, Voila and at least one kernel
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=60)
    server.log.close()
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in family if psutil.pid_exists(p)], timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline() for p in alive]


def test_the_html_report_renders_with_every_picture_and_no_console_error(browser, tmp_path, capsys):
    from catsel.apps.cli import main

    run = tmp_path / "run"
    assert main(["run", str(REPO / "sample_data"), "--out", str(run), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block3_conv3", "--no-progress", "--report"]) == 0
    assert f"Wrote {run / 'report.html'}" in capsys.readouterr().out
    page = _page(browser)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # the file as a mail attachment would give it: no server, no other file
        page.set_content((run / "report.html").read_text(encoding="utf-8"), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        assert len(images) >= 1 + 4  # Figure 1 and at least one filter per category
        assert all(done and width > 0 for done, width, _ in images), images
        assert images[0][2].startswith("Figure 1")
        text = page.inner_text("body")
        assert "UNTRAINED NETWORK" in text and "Shuffled-label null" in text
        # the sample data's own README describes the data: no skipped image (issue #38)
        assert "Skipped files (0)" in text and "None: every image was read." in text
        assert not errors, errors
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
    finally:
        page.close()


def test_names_are_shown_not_run_in_the_explorers(browser, tmp_path):
    """A category and a run folder named as HTML that would run a script: Voilà shows the names, runs nothing."""
    import shutil

    from catsel.apps.cli import main

    evil = "<img src=x onerror=window.__catsel_ran=1>"
    data = tmp_path / "data"
    for name, source in ((evil, "face"), ("plain", "car")):
        (data / name).mkdir(parents=True)
        for image in sorted((REPO / "sample_data" / source).iterdir())[:6]:
            shutil.copy(image, data / name / image.name)
    run = tmp_path / "<b onmouseover=window.__catsel_ran=2>run"
    assert main(["run", str(data), "--out", str(run), "--image-size", "32", "--weights", "none",
                 "--layers", "block1_conv1,block2_conv1", "--no-progress"]) == 0
    port, token = _free_port(), secrets.token_hex(16)
    server = Server([sys.executable, "-m", "catsel", "explore", str(run), "--port", str(port), "--token", token,
                     "--no-browser"], f"http://127.0.0.1:{port}/?token={token}", tmp_path, "voila-names")
    page = _page(browser)
    try:
        page.goto(f"http://127.0.0.1:{port}/?token={token}")
        expect(page.locator(".catsel-counts").first).to_be_visible(timeout=120_000)
        page.wait_for_timeout(3000)  # the filter explorer's caption, drawn after the counts
        text = page.inner_text("body")
        assert evil in text  # the category's name, as text
        assert "onmouseover=window.__catsel_ran=2>run" in text  # the run folder's, in the heading
        assert page.evaluate("window.__catsel_ran") is None  # neither ran
        assert page.locator("img[src='x']").count() == 0 and page.locator("b[onmouseover]").count() == 0
    except Exception:
        page.screenshot(path=str(SHOTS / "voila-names-failure.png"), full_page=False)
        raise
    finally:
        page.close()
        server.stop()
