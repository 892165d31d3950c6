"""Which device and dtype to use, and what this machine's CPU/GPU can do.

``pick_device``/``pick_dtype`` are what every notebook calls first;
``dtype_support`` tries each dtype for real instead of trusting a table.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch


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
