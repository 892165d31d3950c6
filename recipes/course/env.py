"""Environment report: what is installed, the device and dtypes, HF settings, a checklist.

``report()`` is the first thing a learner runs; ``checklist()`` turns the same
facts into ✓/✗ lines where every ✗ says exactly how to fix it.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from recipes.course.device import device_info, dtype_support, pick_device, pick_dtype
from recipes.hub.settings import hf_settings

PACKAGES = ("torch", "diffusers", "transformers", "accelerate", "peft", "huggingface_hub",
            "safetensors", "torchmetrics", "jieba", "matplotlib", "mplfonts")
DIST_NAME = "diffusers-recipes-zh"


def version_of(package: str) -> str | None:
    """Return the installed version of a distribution, or None if it is missing."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class Report(dict):
    """The environment report: a dict of sections that prints as a table."""

    def __str__(self) -> str:
        lines = []
        for section, values in self.items():
            lines.append(f"[{section}]")
            width = max((len(k) for k in values), default=0)
            for key, value in values.items():
                lines.append(f"  {key:<{width}}  {_fmt(value)}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = ["| 项目 / item | 值 / value |", "|---|---|"]
        for section, values in self.items():
            rows.append(f"| **{section}** | |")
            rows += [f"| {k} | {_fmt(v)} |" for k, v in values.items()]
        return "\n".join(rows)


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def report(device: str | None = None) -> Report:
    """Collect versions, device, usable dtypes, CPU threads and Hugging Face settings.

    Returns a :class:`Report` (a dict of sections). It prints as an aligned
    table and shows as a Markdown table in Jupyter. It makes no network calls.
    """
    dev = device or pick_device()
    versions = {"python": platform.python_version()}
    versions.update({p: version_of(p) for p in PACKAGES})
    versions["recipes"] = version_of(DIST_NAME)
    dtypes = dtype_support(dev)
    dtype_rows = {n: ("works" if d["works"] else f"fails: {d['error']}") for n, d in dtypes.items()}
    dtype_rows["recommended"] = str(pick_dtype(dev)).replace("torch.", "")
    from recipes.course.profiles import profile

    return Report({
        "versions": versions,
        "device": device_info(dev),
        "dtypes": dtype_rows,
        "huggingface": hf_settings(),
        "profile": profile().as_dict(),
    })


@dataclass
class Check:
    """One line of the checklist: what was checked, whether it passed, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        mark = "✓" if self.ok else "✗"
        tail = f"  → 修复 / fix: {self.fix}" if not self.ok and self.fix else ""
        return f"{mark} {self.name}: {self.detail}{tail}"


def _requirements() -> dict[str, str]:
    """Minimum versions declared by this project (single source: pyproject.toml)."""
    from packaging.requirements import Requirement

    floors: dict[str, str] = {}
    for line in metadata.requires(DIST_NAME) or []:
        req = Requirement(line)
        if req.marker is None:
            floors[req.name] = str(req.specifier)
    return floors


def checklist() -> list[Check]:
    """Run the setup checks and return them; every failed check carries its fix."""
    from packaging.specifiers import SpecifierSet

    checks = [Check("Python ≥ 3.10", sys.version_info >= (3, 10), platform.python_version(),
                    "install Python 3.10–3.12 and recreate the environment (make lab)")]
    try:
        floors = _requirements()
    except metadata.PackageNotFoundError:
        floors = {}
        checks.append(Check("course package installed", False, "recipes is not pip-installed",
                            "run `make lab` (or `pip install -e .`) in the course folder"))
    for name, spec in floors.items():
        have = version_of(name)
        ok = have is not None and SpecifierSet(spec).contains(have, prereleases=True)
        checks.append(Check(f"{name} {spec}".strip(), ok, have or "not installed",
                            f"pip install -U '{name}{spec}'"))
    dev = pick_device()
    note = {"cuda": "GPU: full profile", "mps": "Apple GPU", "cpu": "CPU only: quick profile"}
    checks.append(Check("compute device", True, f"{dev} ({note[dev]})"))
    from recipes.course.fonts import find_cjk_font

    font = find_cjk_font()
    checks.append(Check("Chinese font for plots", font is not None,
                        font[0] if font else "none found",
                        "pip install mplfonts, then recipes.setup_cjk_fonts()"))
    words = _jieba_words("扩散模型生成图像")
    checks.append(Check("jieba segmentation", len(words) > 1, " / ".join(words) or "failed",
                        "pip install -U jieba"))
    hf = hf_settings()
    cache = Path(str(hf["HF_HUB_CACHE"]))
    writable = _writable(cache)
    checks.append(Check("HF cache writable", writable, str(cache),
                        "export HF_HOME=/a/writable/folder before starting Jupyter"))
    free_gb = shutil.disk_usage(_existing_parent(cache)).free / 2**30
    checks.append(Check("free disk ≥ 5 GB (for one real SD model)", free_gb >= 5,
                        f"{free_gb:.1f} GB free", "free disk space or point HF_HOME elsewhere"))
    try:
        from recipes.pipelines.models import resolve

        toy = resolve("toy")
        checks.append(Check("toy model (offline)", True, toy))
    except Exception as exc:  # ModelNotAvailable says how to restore it
        checks.append(Check("toy model (offline)", False, str(exc).split(";")[0],
                            "git checkout -- recipes/assets  (or: make toy-model)"))
    mode = ("offline: only cached and local models" if hf["offline"]
            else f"online via {hf['HF_ENDPOINT']}")
    checks.append(Check("Hub access mode", True, mode))
    return checks


def _jieba_words(text: str) -> list[str]:
    try:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)  # jieba prints its dictionary load otherwise
        return list(jieba.cut(text))
    except Exception:
        return []


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable(path: Path) -> bool:
    target = path if path.exists() else _existing_parent(path)
    return os.access(target, os.W_OK)


def format_checklist(checks: list[Check]) -> str:
    """Render checks one per line with a final count."""
    bad = sum(not c.ok for c in checks)
    summary = "全部通过 / all good" if not bad else f"{bad} 项需要修复 / {bad} to fix"
    return "\n".join([*map(str, checks), summary])
