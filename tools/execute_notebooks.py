"""Execute notebooks in place and clean them so committed diffs stay small.

Usage: python tools/execute_notebooks.py [notebooks/ | path.ipynb ...]

Each notebook runs top to bottom with its folder as working directory (the
Makefile sets the quick profile, CPU and offline mode). Afterwards execution
timestamps, widget outputs (their state is not saved) and kernel noise are
removed; outputs stay, because the committed notebook is what a learner sees
before running anything.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip run-specific metadata; keep sources, outputs and tags."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC,
                                      "language_info": {"name": "python"}})
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        # Widget state is not saved, and a widget's text fallback is its state at
        # creation (a progress bar frozen at 0/66), so widget outputs are dropped.
        cell.outputs = [out for out in cell.outputs
                        if WIDGET_MIME not in (out.get("data") or {})]
        for out in cell.outputs:
            out.pop("transient", None)
            if "execution_count" in out:
                out["execution_count"] = count
    return nb


def run(path: Path) -> float:
    """Execute one notebook in place, clean it, and return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(clean(nb), path)
    return seconds


def main(args: list[str]) -> int:
    """Execute the notebooks named (or all under notebooks/) and print timings."""
    targets: list[Path] = []
    for arg in args or ["notebooks"]:
        p = Path(arg)
        targets += sorted(p.glob("[0-9]*.ipynb")) if p.is_dir() else [p]
    for path in targets:
        print(f"executing {path} …", flush=True)
        print(f"  done in {run(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
