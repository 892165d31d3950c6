"""Structure of every committed notebook (nbval executes them; this checks their shape).

The house guide asks for: a bilingual numbered title with Colab and Binder
badges, learning goals / prerequisites / time, a setup cell that installs only
in Colab and names MODEL, check cells, a summary and exercises; committed
outputs from a real run, no errors, clean metadata, and a README row.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
REQUIRED_HEADINGS = ("## 学习目标 / What you will learn", "## 前置 / Prerequisites",
                     "## 用时 / Time", "### 检查 / Check", "## 小结 / Summary",
                     "## 练习 / Exercises")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no NN_topic.ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    assert path.name.isascii()
    cells = _cells(path)
    title = _src(cells[0])
    number = path.name[:2]
    assert re.match(rf"# {number} · \S.* / \S", title), "title must be '# NN · 中文 / English'"
    assert "colab-badge.svg" in title and "mybinder.org/badge" in title
    assert f"notebooks/{path.name}" in title, "badges must point at this notebook"
    markdown = "\n".join(_src(c) for c in cells if c["cell_type"] == "markdown")
    for heading in REQUIRED_HEADINGS:
        assert heading in markdown, f"missing section {heading!r}"
    code = [c for c in cells if c["cell_type"] == "code"]
    setup = _src(code[0])
    assert '"google.colab" in sys.modules' in setup, "setup cell must install only in Colab"
    assert re.search(r'^MODEL = "toy(-zh)?"', setup, re.M), "setup cell must define MODEL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_executed_and_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and _src(c).strip()]
    assert all(c["execution_count"] for c in code), "run `make execute` before committing"
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c["outputs"]]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    assert not any("execution" in c["metadata"] for c in nb["cells"])
    assert "widgets" not in nb["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_listed_in_readme_with_badges(path):
    rows = [line for line in README.splitlines() if f"notebooks/{path.name}" in line]
    assert rows, f"{path.name} is not in the README notebook table"
    assert any("colab-badge.svg" in r and "mybinder.org/badge" in r for r in rows)
