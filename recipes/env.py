"""Environment report: what is installed, which device and dtype to use, HF settings.

``report()`` is the first thing a learner runs; ``checklist()`` turns the same
facts into ✓/✗ lines where every ✗ says exactly how to fix it.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("torch", "diffusers", "transformers", "accelerate", "peft", "huggingface_hub",
            "safetensors", "torchmetrics", "jieba", "matplotlib", "mplfonts")
DIST_NAME = "diffusers-recipes-zh"


def version_of(package: str) -> str | None:
    """Return the installed version of a distribution, or None if it is missing."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def pick_device(prefer: str | None = None) -> str:
    """Return the best available torch device name: "cuda", then "mps", then "cpu".

    ``prefer`` (or the ``RECIPES_DEVICE`` environment variable) forces one;
    asking for a device that is not available raises ``RuntimeError`` that says
    what is available instead, rather than silently falling back.
    """
    wanted = prefer or os.environ.get("RECIPES_DEVICE") or None
    available = ["cpu"]
    if torch.backends.mps.is_available():
        available.insert(0, "mps")
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    if wanted is None:
        return available[0]
    kind = wanted.split(":")[0]
    if kind not in available:
        raise RuntimeError(
            f"Device {wanted!r} is not available here; available: {', '.join(available)}. "
            "Use pick_device() without arguments to take the best one."
        )
    return wanted


def pick_dtype(device: str | torch.device | None = None) -> torch.dtype:
    """Return the dtype to run diffusion models in on ``device``.

    float16 on CUDA and MPS (half the weight memory, tensor cores); float32 on
    CPU, where float16 kernels are mostly emulated and slower than float32 and
    bfloat16 only pays off on CPUs with AMX/AVX512-BF16.
    """
    kind = torch.device(device or pick_device()).type
    return torch.float16 if kind in ("cuda", "mps") else torch.float32


def dtype_support(device: str | None = None, measure: bool = False) -> dict[str, dict]:
    """Check which floating dtypes actually run a conv + matmul + softmax on ``device``.

    Returns ``{name: {"works": bool, "error": str|None, "ms": float|None}}``.
    With ``measure=True`` it also times a small matmul (median of 5) so the
    notebook can show, e.g., that float16 on a CPU is slower than float32.
    """
    dev = torch.device(device or pick_device())
    out: dict[str, dict] = {}
    for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16),
                     ("float16", torch.float16)):
        entry: dict = {"works": False, "error": None, "ms": None}
        try:
            g = torch.Generator(device="cpu").manual_seed(0)
            x = torch.randn(1, 4, 16, 16, generator=g).to(dev, dt)
            w = torch.randn(8, 4, 3, 3, generator=g).to(dev, dt)
            y = torch.nn.functional.conv2d(x, w, padding=1).flatten(1)
            y = y / y.shape[1] ** 0.5  # keep logits in range: this probes kernels, not overflow
            z = torch.softmax(y @ y.T, dim=-1)
            entry["works"] = bool(torch.isfinite(z.float()).all())
            if not entry["works"]:
                entry["error"] = "non-finite result"

            if measure:
                a = torch.randn(256, 256, generator=g).to(dev, dt)
                times = []
                for _ in range(6):
                    _sync(dev)
                    t0 = time.perf_counter()
                    for _ in range(20):
                        a @ a
                    _sync(dev)
                    times.append((time.perf_counter() - t0) * 1000 / 20)
                entry["ms"] = sorted(times[1:])[2]  # first is warm-up; median of 5
        except Exception as exc:  # report, never crash the report
            entry["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        out[name] = entry
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def device_info(device: str | None = None) -> dict[str, object]:
    """Describe the compute device: name, memory, compute capability, CPU threads, RAM."""
    import psutil

    dev = torch.device(device or pick_device())
    info: dict[str, object] = {
        "device": dev.type,
        "cpu": _cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_total_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "ram_available_gb": round(psutil.virtual_memory().available / 2**30, 1),
    }
    if dev.type == "cuda":
        idx = dev.index or 0
        props = torch.cuda.get_device_properties(idx)
        info.update({
            "name": props.name,
            "gpu_memory_gb": round(props.total_memory / 2**30, 1),
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "gpu_count": torch.cuda.device_count(),
        })
    elif dev.type == "mps":
        info["name"] = "Apple Silicon GPU (MPS)"
    else:
        info["name"] = info["cpu"]
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hf_settings() -> dict[str, object]:
    """Return the Hugging Face hub settings in force for this process.

    These are read by ``huggingface_hub`` when it is first imported, so
    ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` must be set before importing diffusers.
    Never includes the token itself, only whether one is configured.
    """
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    return {
        "HF_HOME": constants.HF_HOME,
        "HF_HUB_CACHE": str(cache),
        "cache_size_gb": round(_dir_size(cache) / 2**30, 3),
        "cached_repos": sorted(p.name for p in cache.glob("models--*")) if cache.is_dir() else [],
        "HF_ENDPOINT": constants.ENDPOINT,
        "endpoint_from_env": "HF_ENDPOINT" in os.environ,
        "offline": bool(constants.HF_HUB_OFFLINE),
        "token_configured": bool(os.environ.get("HF_TOKEN"))
        or Path(constants.HF_TOKEN_PATH).is_file(),
    }


def _dir_size(path: Path) -> int:
    if not path.is_dir():
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp):  # the hub cache links snapshots to blobs
                total += os.path.getsize(fp)
    return total


def check_endpoint(endpoint: str | None = None, repo_id: str = "openai/clip-vit-base-patch32",
                   timeout: float = 5.0) -> tuple[bool, str]:
    """Check that a Hub endpoint (or mirror) answers, without downloading a model.

    Asks ``{endpoint}/api/models/{repo_id}`` with a short timeout. In offline
    mode it does not touch the network and says so. Returns ``(ok, message)``.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False, "offline mode (HF_HUB_OFFLINE=1): network check skipped"
    base = (endpoint or constants.ENDPOINT).rstrip("/")
    url = f"{base}/api/models/{repo_id}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            return resp.status == 200, f"{base} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{base} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{base} unreachable ({reason}); set HF_ENDPOINT to a mirror or work offline"


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
    from .profiles import profile

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
    from .fonts import find_cjk_font

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
        from .models import resolve

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
