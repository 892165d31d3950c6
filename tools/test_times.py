"""Per-notebook and unit-test times from a pytest JUnit report (``make test`` writes one).

Usage: ``python tools/test_times.py [.test-report.xml] [--readme README.md]``.
Prints a Markdown table: one row per notebook (sum of its cells' times under
nbval), one row for all unit tests, and the total. With ``--readme`` it also
writes each notebook's time into the "CPU 用时" column of README's notebook
table (adding the column if it is missing): that column is measured, not typed.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def times(report: str | Path) -> dict[str, float]:
    """Seconds per notebook file and for all unit tests together, from a JUnit XML file."""
    out: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("classname", "") + "::" + case.get("name", "")
        seconds = float(case.get("time", 0))
        parts = name.replace("::", "/").split("/")
        notebook = [p for p in parts if p.endswith(".ipynb")]  # nbval: "<path>.ipynb::Cell 3"
        if notebook:  # (a unit test *named* after a notebook, "...[07_x.ipynb]", is a unit test)
            # nbval's classname is the dotted path ("notebooks.02_x.ipynb"): keep the file name
            key = notebook[0][: -len(".ipynb")].split(".")[-1] + ".ipynb"
        else:
            key = "unit tests"
        out[key] += seconds
    return dict(out)


TIME_HEADER = "CPU 用时 / time"


def mmss(seconds: float) -> str:
    """Seconds as m:ss."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def update_readme(readme: Path, t: dict[str, float]) -> int:
    """Write notebook times into README's notebook table; returns how many rows got one.

    The table is the one whose header starts with ``| # |``; a row belongs to a
    notebook when it links ``notebooks/<name>.ipynb``. The time column goes just
    before the last ("launch") column; rows of notebooks not in the report keep
    their old value (or "—").
    """
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| # |")), None)
    if start is None:
        raise SystemExit(f"error: no notebook table (header '| # |') in {readme}")
    header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    has = TIME_HEADER in header
    col = header.index(TIME_HEADER) if has else len(header) - 1
    done = 0
    i = start
    while i < len(lines) and lines[i].startswith("|"):
        cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
        if i == start:
            value = TIME_HEADER
        elif i == start + 1:
            value = "---:"
        else:
            name = next((c.split("notebooks/")[1].split(")")[0] for c in cells
                         if "notebooks/" in c and ".ipynb" in c), None)
            old = cells[col] if has else "—"
            value = mmss(t[name]) if name in t else old
            done += name in t
        if has:
            cells[col] = value
        else:
            cells.insert(col, value)
        lines[i] = "| " + " | ".join(cells) + " |"
        i += 1
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return done


def main(argv: list[str]) -> int:
    readme = None
    if "--readme" in argv:
        k = argv.index("--readme")
        readme = Path(argv[k + 1])
        argv = argv[:k] + argv[k + 2:]
    report = Path(argv[0] if argv else ".test-report.xml")
    if not report.is_file():
        print(f"error: no report at {report}; run `make test` first", file=sys.stderr)
        return 2
    t = times(report)
    print("| part | seconds | min:s |\n|---|---:|---:|")
    for key in sorted(t, key=lambda k: (k == "unit tests", k)):
        print(f"| {key} | {t[key]:.0f} | {mmss(t[key])} |")
    total = sum(t.values())
    print(f"| **total (tests only)** | {total:.0f} | {mmss(total)} |")
    if readme is not None:
        print(f"{update_readme(readme, t)} notebook rows of {readme} got their time")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
