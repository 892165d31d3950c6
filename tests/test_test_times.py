"""tools/test_times.py: per-notebook times from a JUnit report, written into README's table."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_times", ROOT / "tools" / "test_times.py")
test_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_times)

REPORT = """<testsuites><testsuite>
<testcase classname="notebooks/02_schedulers.ipynb" name="Cell 0" time="1.5"/>
<testcase classname="notebooks/02_schedulers.ipynb" name="Cell 5" time="100.0"/>
<testcase classname="notebooks.01_pipelines.ipynb" name="Cell 2" time="10.0"/>
<testcase classname="tests.test_bench" name="test_x" time="3.0"/>
<testcase classname="tests.test_notebooks" name="test_clean[07_distributed.ipynb]" time="1.0"/>
</testsuite></testsuites>"""

TABLE = """intro
| # | 笔记本 / notebook | 内容 / what | 打开 / launch |
|---|---|---|---|
| 01 | [P](notebooks/01_pipelines.ipynb) | a | badge |
| 02 | [S](notebooks/02_schedulers.ipynb) | b | badge |

after
"""


def test_readme_column_added_then_updated(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(REPORT)
    t = test_times.times(report)
    # nbval's dotted classname and a unit test named after a notebook (a unit test, not a notebook)
    assert t == {"02_schedulers.ipynb": 101.5, "01_pipelines.ipynb": 10.0, "unit tests": 4.0}
    readme = tmp_path / "README.md"
    readme.write_text(TABLE, encoding="utf-8")
    assert test_times.update_readme(readme, t) == 2
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "| # | 笔记本 / notebook | 内容 / what | CPU 用时 / time | 打开 / launch |"
    assert lines[3].endswith("| a | 0:10 | badge |")
    assert lines[4].endswith("| b | 1:41 | badge |")
    assert lines[0] == "intro" and lines[-1] == "after"
    # a second run replaces the value in place instead of adding another column
    assert test_times.update_readme(readme, {"01_pipelines.ipynb": 61.0}) == 1
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert lines[3].endswith("| a | 1:01 | badge |") and lines[4].endswith("| b | 1:41 | badge |")
    assert lines[1].count("用时") == 1
