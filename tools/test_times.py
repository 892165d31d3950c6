"""Per-notebook and unit-test times from a pytest JUnit report (``make test`` writes one).

Usage: ``python tools/test_times.py [.test-report.xml]``. Prints a Markdown table:
one row per notebook (sum of its cells' times under nbval), one row for all unit
tests, and the total. This is how README's "用时" column is measured.
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
        if ".ipynb" in name:
            key = next(p for p in name.replace("::", "/").split("/") if p.endswith(".ipynb"))
        else:
            key = "unit tests"
        out[key] += seconds
    return dict(out)


def main(argv: list[str]) -> int:
    report = Path(argv[0] if argv else ".test-report.xml")
    if not report.is_file():
        print(f"error: no report at {report}; run `make test` first", file=sys.stderr)
        return 2
    t = times(report)
    print("| part | seconds | min:s |\n|---|---:|---:|")
    for key in sorted(t, key=lambda k: (k == "unit tests", k)):
        print(f"| {key} | {t[key]:.0f} | {int(t[key] // 60)}:{int(t[key] % 60):02d} |")
    total = sum(t.values())
    print(f"| **total (tests only)** | {total:.0f} | {int(total // 60)}:{int(total % 60):02d} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
