"""Benchmarking done right: warm-up, repeats, median, device sync, peak memory, saved records.

Every speed or memory number in the course comes from here, so it is measured
the same way everywhere:

* time: ``warmup`` untimed calls (first-call costs such as ``torch.compile``,
  cuDNN autotuning or lazy allocation are reported separately), then
  ``repeats`` timed calls; the median is the headline, min/max show the noise.
  On CUDA/MPS the device is synchronised before reading the clock, otherwise a
  GPU call returns before its work is done.
* memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors allocated by
  PyTorch, after ``reset_peak_memory_stats``); on CPU the process resident set
  size (RSS, via psutil) sampled every 2 ms by a thread, reported as the peak
  above the RSS before the call (after ``malloc_trim`` hands freed heap memory
  back to the OS, so earlier calls' leftovers cannot hide an allocation).
  The method is stored with every number.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parents[2] / "results"


def sync(device: str | torch.device | None) -> None:
    """Wait for queued work on ``device`` (no-op on CPU)."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


@dataclass
class Memory:
    """Peak memory of a block: ``peak_mb`` and how it was measured (``method``)."""

    peak_mb: float = 0.0
    method: str = ""
    samples: int = 0


def release_free_memory() -> bool:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``); False where unavailable.

    Without it, memory that an earlier call allocated and freed stays in the
    process (RSS) and a later call reuses it without growing RSS, so its peak
    "above the start" reads near zero whatever it really needs.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return False
    if trim is None:
        return False
    trim(0)
    return True


@contextmanager
def peak_memory(device: str | torch.device | None = None):
    """Context manager yielding a :class:`Memory` filled in when the block ends.

    CUDA: peak bytes allocated by PyTorch's caching allocator during the block.
    CPU (and MPS): peak process RSS above its value at entry, sampled every 2 ms,
    so allocations shorter than that can be missed (fine for whole pipeline calls);
    freed heap memory is returned to the OS first (:func:`release_free_memory`).
    Warm up first: a first call also allocates one-off caches.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    mem = Memory()
    if dev.type == "cuda":
        sync(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        try:
            yield mem
        finally:
            sync(dev)
            mem.peak_mb = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
            mem.method = ("torch.cuda.max_memory_allocated (includes "
                          f"{base / 2**20:.0f} MB already allocated at start)")
        return
    from recipes.evaluation.monitor import Monitor  # the course's one RSS sampler

    release_free_memory()
    monitor = Monitor(interval=0.002, children=False, gpu=False).start()
    try:
        yield mem
    finally:
        monitor.stop()
        rss = [x.rss_mb for x in monitor.samples]
        mem.peak_mb = round(max(rss) - rss[0], 1)
        mem.samples = len(rss)
        mem.method = ("process RSS (psutil, sampled every 2 ms), peak above the start, after "
                      "returning freed heap memory to the OS (glibc malloc_trim)")


@dataclass
class Timing:
    """Wall times of repeated calls, in seconds; ``median_s`` is the headline."""

    times: list[float]
    warmup_s: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict:
        return {"median_s": round(self.median_s, 4), "min_s": round(min(self.times), 4),
                "max_s": round(max(self.times), 4), "repeats": len(self.times),
                "first_call_s": round(self.warmup_s[0], 4) if self.warmup_s else None}


def time_call(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1,
              device: str | torch.device | None = None) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones, syncing ``device``."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    warm, times = [], []
    for i in range(warmup + repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        (warm if i < warmup else times).append(time.perf_counter() - start)
    return Timing(times, warm)


def time_alternating(fns: dict[str, Callable[[], object]], *, repeats: int = 5, warmup: int = 1,
                     device: str | torch.device | None = None) -> dict[str, Timing]:
    """Time several callables in interleaved rounds (A, B, A, B …).

    Interleaving spreads slow drifts of a shared, noisy machine (another job,
    thermal throttling) over all contenders, so their ratio is fair.
    """
    out = {name: Timing([], []) for name in fns}
    for _ in range(warmup):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            out[name].warmup_s.append(time.perf_counter() - start)
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            out[name].times.append(time.perf_counter() - start)
    return out


def machine() -> dict:
    """The machine a number was measured on (CPU/GPU name, threads, library versions)."""
    from recipes.course.device import device_info
    from recipes.course.env import version_of

    info = device_info("cuda" if torch.cuda.is_available() else "cpu")
    keep = ("device", "name", "cpu", "cpu_cores", "torch_threads", "gpu_memory_gb",
            "compute_capability")
    out = {k: info[k] for k in keep if k in info}
    out.update({p: version_of(p) for p in ("torch", "diffusers", "transformers")})
    # what the CPU kernels may use (tools/as_avx2.sh caps both at AVX2 to emulate such a CPU)
    from recipes.perf.fast import cpu_bf16_is_fast

    out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    out["cpu_native_bf16"] = cpu_bf16_is_fast()
    return out


def save(name: str, records: Sequence[dict] | dict, folder: str | Path | None = None) -> Path:
    """Write ``records`` and the machine description to ``results/<name>.json``; return it."""
    folder = Path(folder) if folder is not None else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    payload = {"name": name, "machine": machine(),
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "records": records}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def markdown_table(records: Sequence[dict], columns: Sequence[str] | None = None,
                   digits: int = 3) -> str:
    """Format a list of dicts as a Markdown table (floats rounded to ``digits``)."""
    if not records:
        return "(no records)"
    columns = list(columns or records[0].keys())

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.{digits}f}"
        return "—" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in records]
    return "\n".join(lines)


def write_summary(folder: str | Path | None = None) -> Path:
    """Summarise every saved ``bench_*.json`` in ``results/bench.md`` (the README links it)."""
    folder = Path(folder) if folder is not None else RESULTS
    rows = []
    for path in sorted(folder.glob("bench_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        r, m = data["records"], data["machine"]
        where = m.get("name") or m.get("cpu") or m.get("device")
        if m.get("device") == "cpu" and "cpu_capability" in m:
            where += (f" ({m['cpu_capability']}, "
                      f"{'native bf16' if m['cpu_native_bf16'] else 'no native bf16'})")
        if "baseline_s" in r:
            rows.append({"file": path.name, "machine": where, "workload": r["workload"],
                         "baseline": f"{r['baseline_s']:.3f} s", "fast": f"{r['fast_s']:.3f} s",
                         "speedup": f"{r['speedup']:.2f}x" + (
                             f" ({r['speedup_full_cfg']:.2f}x with guidance on every step)"
                             if "speedup_full_cfg" in r else ""),
                         "accuracy (base → fast)":
                             f"{r['accuracy_baseline']:.3f} → {r['accuracy_fast']:.3f}",
                         "LCM (same preset)": (
                             f"{r['speedup_lcm']:.2f}x at {r['lcm_steps']} steps, accuracy "
                             f"{r['accuracy_lcm']:.3f}" if "speedup_lcm" in r else None),
                         "measured": data["measured_at"]})
        else:
            rows.append({"file": path.name, "machine": where, "workload": r["workload"],
                         "baseline": f"{r['plain_its']:.1f} it/s",
                         "fast": f"{r['fast_its']:.1f} it/s",
                         "speedup": f"{r['speedup']:.2f}x",
                         "accuracy (base → fast)": "timing only (random weights)",
                         "LCM (same preset)": (
                             f"{r['speedup_lcm']:.2f}x per image at {r['lcm_steps']} steps"
                             if "speedup_lcm" in r else None),
                         "measured": data["measured_at"]})
    out = folder / "bench.md"
    out.write_text("# python -m recipes bench\n\nWritten by `python -m recipes bench`; "
                   "JSON beside this file has every field.\n\n" + markdown_table(rows) + "\n",
                   encoding="utf-8")
    return out
