"""Every notebook as a newcomer's Run All runs it: at its defaults, in a fresh kernel, with its time and the
kernel's peak memory.

The README promises a few minutes each on a 2-core laptop; issue #38 asks notebooks 05 and 07 to stay under
5 minutes and 3 GB. The kernel's resident memory (with its children) is sampled every 0.2 s; its peak is what
the machine had to hold. Runs from the repository root, on the bundled sample data, in order, starting with
nothing cached (``runs/notebooks`` removed first, as on a fresh clone).

    python benchmarks/notebooks_speed.py [--only 05 07] [--keep-runs] [--cells]
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]


def _peak(pid_of, stop: threading.Event, found: dict) -> None:
    """Sample the kernel's memory (and its children's) until ``stop``."""
    while not stop.is_set():
        pid = pid_of()
        if pid:
            try:
                kernel = psutil.Process(pid)
                rss = kernel.memory_info().rss + sum(c.memory_info().rss for c in kernel.children(recursive=True))
                found["peak"] = max(found.get("peak", 0), rss)
                found["now"] = rss
            except psutil.Error:
                pass
        time.sleep(0.2)


def run(path: Path, cells: bool = False) -> tuple[float, float]:
    """Seconds and peak GiB of one Run All (with ``cells``, each code cell's time and the peak so far)."""
    nb = nbformat.read(path, as_version=4)
    stop, found = threading.Event(), {}
    last = {"t": time.perf_counter()}

    def executed(cell, cell_index, **_):
        if cells and cell.cell_type == "code":
            now = time.perf_counter()
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            time.sleep(0.3)  # a sample after the cell
            print(f"    cell {cell_index:>2}: {now - last['t']:6.1f} s, peak so far {found.get('peak', 0) / 2**30:.2f} "
                  f"GiB, held after it {found.get('now', 0) / 2**30:.2f} GiB  {first}", flush=True)
            now = time.perf_counter()
            last["t"] = now

    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(REPO)}},
                            on_cell_executed=executed)

    def pid():
        manager = client.km
        provisioner = getattr(manager, "provisioner", None) if manager is not None else None
        process = getattr(provisioner, "process", None)
        return process.pid if process is not None else None

    watcher = threading.Thread(target=_peak, args=(pid, stop, found), daemon=True)
    watcher.start()
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        stop.set()
        watcher.join()
    return time.perf_counter() - started, found.get("peak", 0) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook numbers (default: every one)")
    parser.add_argument("--keep-runs", action="store_true", help="keep runs/notebooks (a warm start)")
    parser.add_argument("--cells", action="store_true", help="each code cell's time, the peak memory so far and what the kernel held after it")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [p for p in notebooks if p.name[:2] in args.only]
    print(f"{os.cpu_count()} cores; Run All at the defaults, from {REPO}")
    print("| notebook | seconds | peak memory (GiB) |\n|---|---:|---:|")
    if not args.keep_runs:  # a fresh clone: no capture of an earlier notebook to reuse
        shutil.rmtree(REPO / "runs" / "notebooks", ignore_errors=True)
    for path in notebooks:
        seconds, peak = run(path, args.cells)
        print(f"| {path.name} | {seconds:.0f} | {peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
