"""Resource monitor: a sampling thread over a process tree (psutil) and the GPU (NVML).

``with Monitor() as mon: ...`` samples this process and its children every
``interval`` seconds: resident memory (RSS, summed over the process tree), CPU
use (100 % = one core busy) and, only when an NVIDIA GPU and ``nvidia-ml-py``
are there, GPU memory and utilisation. ``mon.peaks()`` gives the summary,
``mon.to_csv`` / ``mon.to_json`` export every sample, ``plot_samples`` draws
them and ``LivePlot`` redraws a notebook figure while work goes on.
``run_command`` does the same for another program (``python -m recipes
monitor -- CMD``).

A sampler sees only what exists when it looks: a spike shorter than the
interval can fall between two samples. Peaks are therefore lower bounds; the
method is stored with them.
"""

from __future__ import annotations

import csv
import json
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

MB = 2**20


@dataclass
class Sample:
    """One look at the process tree: seconds since start, RSS (MB), CPU % and GPU figures."""

    t: float
    rss_mb: float
    cpu_percent: float
    gpu_mb: float | None = None
    gpu_util: float | None = None


class _Gpu:
    """NVML handles for GPU 0..n-1, or nothing when there is no NVIDIA driver / nvidia-ml-py."""

    def __init__(self) -> None:
        self.handles: list = []
        try:
            import pynvml  # from the nvidia-ml-py package (`pip install -e .[monitor]`)

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                            for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # no module, no driver, no device: monitor CPU only
            self.handles = []

    def read(self, pids: set[int]) -> tuple[float, float, str]:
        """GPU memory (MB) of ``pids`` (device total when NVML cannot see them) and max util %."""
        nv, used, seen, util = self.nvml, 0.0, False, 0.0
        for h in self.handles:
            util = max(util, float(nv.nvmlDeviceGetUtilizationRates(h).gpu))
            try:
                procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
            except nv.NVMLError:
                procs = []
            for p in procs:
                if p.pid in pids and p.usedGpuMemory is not None:
                    used += p.usedGpuMemory / MB
                    seen = True
        if seen:
            return used, util, "NVML memory of the monitored processes"
        # In containers NVML often reports host PIDs (or none): fall back to the whole device.
        total = sum(nv.nvmlDeviceGetMemoryInfo(h).used for h in self.handles) / MB
        return total, util, "NVML memory used on the whole device (all processes)"

    def close(self) -> None:
        if self.handles:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


class Monitor:
    """Sample a process tree (default: this process) in a background thread; a context manager.

    ``interval`` is the time between samples in seconds (default 0.05);
    ``children`` adds every descendant process's RSS and CPU; ``gpu`` is
    "auto" (use NVML when available) or False. After the block, ``samples``
    holds every :class:`Sample` and :meth:`peaks` the summary.
    """

    def __init__(self, pid: int | None = None, *, interval: float = 0.05, children: bool = True,
                 gpu: bool | str = "auto") -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.root = psutil.Process(pid)
        self.interval, self.children = interval, children
        self.gpu = _Gpu() if gpu else None
        if self.gpu is not None and not self.gpu.handles:
            self.gpu = None
        self.samples: list[Sample] = []
        self.gpu_method = ""
        self._procs: dict[int, psutil.Process] = {}
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = self._t1 = 0.0

    def _tree(self) -> list[psutil.Process]:
        procs = [self.root]
        if self.children:
            try:
                procs += self.root.children(recursive=True)
            except psutil.Error:
                pass
        # cpu_percent compares with the previous call on the *same* Process object: keep them.
        for p in procs:
            self._procs.setdefault(p.pid, p)
        return [self._procs[p.pid] for p in procs]

    def sample(self) -> Sample | None:
        """Take one sample now (the thread calls this); None once the process tree is gone."""
        rss = cpu = 0.0
        alive: set[int] = set()
        for p in self._tree():
            try:
                with p.oneshot():
                    rss += p.memory_info().rss / MB
                    cpu += p.cpu_percent(None)
                alive.add(p.pid)
            except psutil.Error:  # exited between listing and reading
                continue
        if not alive:
            return None
        s = Sample(round(time.perf_counter() - self._t0, 4), round(rss, 2), round(cpu, 1))
        if self.gpu is not None:
            mb, util, self.gpu_method = self.gpu.read(alive)
            s.gpu_mb, s.gpu_util = round(mb, 1), util
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._halt.is_set():
            if self.sample() is None:
                break
            self._halt.wait(self.interval)

    def start(self) -> Monitor:
        """Start sampling in a daemon thread (``with Monitor()`` calls this)."""
        self._t0 = time.perf_counter()
        for p in self._tree():  # prime cpu_percent: its first call always returns 0.0
            try:
                p.cpu_percent(None)
            except psutil.Error:
                pass
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True, name="recipes-monitor")
        self._thread.start()
        return self

    def stop(self) -> dict:
        """Stop the thread, take a last sample and return :meth:`peaks`."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        self._t1 = time.perf_counter()
        if self.gpu is not None:
            self.gpu.close()
        return self.peaks()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def peaks(self) -> dict:
        """Summary: peak/start RSS (MB), mean/peak CPU %, seconds, GPU peak MB/util (or None)."""
        s = self.samples
        # The first sample primes cpu_percent (always 0.0): leave it out of the mean.
        cpu = [x.cpu_percent for x in s[1:]] or [0.0]
        gpu = [x.gpu_mb for x in s if x.gpu_mb is not None]
        util = [x.gpu_util for x in s if x.gpu_util is not None]
        end = self._t1 or time.perf_counter()
        return {"peak_rss_mb": round(max((x.rss_mb for x in s), default=0.0), 1),
                "start_rss_mb": round(s[0].rss_mb, 1) if s else None,
                "cpu_percent_mean": round(sum(cpu) / len(cpu), 1),
                "cpu_percent_peak": round(max(cpu), 1),
                "seconds": round(end - self._t0, 3),
                "gpu_peak_mb": round(max(gpu), 1) if gpu else None,
                "gpu_util_peak": max(util) if util else None,
                "samples": len(s), "interval_s": self.interval,
                "method": (f"psutil RSS and CPU of the process{' tree' if self.children else ''}, "
                           f"sampled every {self.interval * 1000:g} ms (100 % CPU = one core)"
                           + (f"; GPU: {self.gpu_method}" if gpu else "; no GPU monitored"))}

    def to_csv(self, path: str | Path) -> Path:
        """Write every sample as CSV (columns t, rss_mb, cpu_percent, gpu_mb, gpu_util)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=[*Sample.__dataclass_fields__])
            writer.writeheader()
            writer.writerows(asdict(x) for x in self.samples)
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write the peaks and every sample as JSON (``{"peaks": ..., "samples": [...]}``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"peaks": self.peaks(), "samples": [asdict(x) for x in self.samples]}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        return path


def run_command(cmd: Sequence[str], *, interval: float = 0.05,
                timeout: float | None = None) -> tuple[int, dict, Monitor]:
    """Run ``cmd`` (a list, no shell), sampling its process tree: (exit code, peaks, monitor).

    The child inherits stdin/stdout/stderr and is killed if ``timeout``
    seconds pass or the caller is interrupted. (The kernel's own peak, ``wait4``
    ``ru_maxrss``, is not used: on Linux it keeps the high-water mark of the
    parent's memory copied at fork, so a 10 MB child of a 200 MB parent reads 200 MB.)
    """
    if not cmd:
        raise ValueError("no command given: write it after --, e.g. monitor -- python -c 'pass'")
    proc = subprocess.Popen(list(cmd))
    try:
        mon = Monitor(proc.pid, interval=interval).start()
        proc.wait(timeout)
        peaks = mon.stop()
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    peaks["returncode"] = proc.returncode
    return proc.returncode, peaks, mon


def plot_samples(samples: Sequence[Sample], axes=None, title: str | None = None):
    """Draw RSS (MB), CPU % and, when present, GPU MB over time; returns the figure."""
    import matplotlib.pyplot as plt

    from recipes.course.fonts import setup_cjk_fonts

    setup_cjk_fonts()
    samples = list(samples)  # a snapshot: the sampling thread may append while we draw
    has_gpu = any(x.gpu_mb is not None for x in samples)
    if axes is None:
        _, axes = plt.subplots(1, 3 if has_gpu else 2, figsize=(10 if has_gpu else 8, 2.6))
    t = [x.t for x in samples]
    series = [("rss_mb", "内存 RSS (MB)"), ("cpu_percent", "CPU %（100 = 一个核）")]
    if has_gpu:
        series.append(("gpu_mb", "GPU 显存 (MB)"))
    for ax, (key, label) in zip(axes, series, strict=False):
        ax.clear()
        ax.plot(t, [getattr(x, key) for x in samples], lw=1.2)
        ax.set_xlabel("时间 / s")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig = axes[0].figure
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot:
    """A notebook figure of a :class:`Monitor`'s samples, redrawn in place by :meth:`update`.

    Call ``update()`` from the main thread between pieces of work (for example
    after every pipeline call); the figure in the output cell is replaced each time.
    """

    def __init__(self, monitor: Monitor, title: str | None = None) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.monitor, self.title = monitor, title
        gpu = 0.0 if monitor.gpu is not None else None  # same panels now as at the end
        self.fig = plot_samples(monitor.samples or [Sample(0.0, 0.0, 0.0, gpu)], title=title)
        plt.close(self.fig)  # shown through the display handle only, not again at cell end
        self.handle = display(self.fig, display_id=True)

    def update(self) -> None:
        """Redraw with every sample so far."""
        plot_samples(list(self.monitor.samples), axes=self.fig.axes, title=self.title)
        self.handle.update(self.fig)
