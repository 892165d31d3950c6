"""recipes.evaluation.monitor and ``python -m recipes monitor``: peaks measured, not guessed."""

import csv
import json
import sys
import time

import numpy as np
import pytest

from recipes.evaluation import monitor

ALLOC_MB = 300
# A child that writes every byte of ALLOC_MB (b"x" * n touches all pages; bytearray(n)
# would be lazily zero-mapped and barely show in RSS), holds it, then exits.
HOLD = f"import time; b = b'x' * ({ALLOC_MB} * 2**20); time.sleep(0.6)"
IDLE = "import time; time.sleep(0.6)"


def test_child_allocation_measured_within_10_percent():
    _, with_block, _ = monitor.run_command([sys.executable, "-c", HOLD], interval=0.01)
    _, idle, _ = monitor.run_command([sys.executable, "-c", IDLE], interval=0.01)
    extra = with_block["peak_rss_mb"] - idle["peak_rss_mb"]
    assert abs(extra - ALLOC_MB) <= 0.1 * ALLOC_MB, (with_block, idle)
    assert with_block["returncode"] == 0 and with_block["samples"] >= 5


def test_process_tree_counts_grandchildren():
    """A shell that starts python: the memory is in the grandchild, the tree sum must see it."""
    inner = f"{sys.executable} -c \"{HOLD}\""
    _, peaks, _ = monitor.run_command(["/bin/sh", "-c", inner + "; true"], interval=0.01)
    assert peaks["peak_rss_mb"] >= 0.9 * ALLOC_MB, peaks


def test_context_manager_sees_in_process_allocation_and_cpu(tmp_path):
    with monitor.Monitor(interval=0.01) as mon:
        block = np.ones((64, 2**20), dtype=np.float32)  # 256 MB, written
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:  # keep one core busy
            block[0, :1000] += 1
        del block
    peaks = mon.peaks()
    assert peaks["peak_rss_mb"] - peaks["start_rss_mb"] >= 0.9 * 256, peaks
    assert peaks["cpu_percent_peak"] >= 50, peaks
    assert peaks["seconds"] >= 0.3
    rows = list(csv.DictReader(mon.to_csv(tmp_path / "s.csv").open()))
    assert len(rows) == peaks["samples"] and set(rows[0]) >= {"t", "rss_mb", "cpu_percent"}
    data = json.loads(mon.to_json(tmp_path / "s.json").read_text())
    assert data["peaks"]["peak_rss_mb"] == peaks["peak_rss_mb"]
    assert len(data["samples"]) == peaks["samples"]


def _busy_percent(seconds: float = 0.5) -> float:
    """CPU this process used while the calling thread slept, as % of one core."""
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)


def test_idle_block_uses_little_cpu():
    # children=False: a session-wide helper process started by another test (a server,
    # a Ray worker) may be busy; this checks that sampling itself adds little load.
    # The process's own background threads (left by earlier tests in a full run: once 2.7
    # cores in CI) are measured without the monitor just before and after, and subtracted.
    before = _busy_percent()
    with monitor.Monitor(interval=0.05, children=False):
        during = _busy_percent()
    after = _busy_percent()
    assert during - max(before, after) < 40, (before, during, after)


def test_bad_interval_is_rejected():
    with pytest.raises(ValueError, match="interval"):
        monitor.Monitor(interval=0)


def _cli(capfd, *args):
    """``python -m recipes monitor ARGS`` run in this process (torch is already imported here,
    a fresh interpreter would spend seconds importing it); the child writes to the same fds."""
    from recipes.cli import main

    code = main(["monitor", *args])
    out, err = capfd.readouterr()
    return code, out, err


def test_cli_prints_last_line_json_and_passes_exit_code(capfd):
    code, out, err = _cli(capfd, "--interval", "0.01", "--", sys.executable, "-c",
                          HOLD + "; print('child says hi', flush=True); raise SystemExit(3)")
    assert code == 3, err
    lines = out.strip().splitlines()
    assert lines[0] == "child says hi"
    peaks = json.loads(lines[-1])
    assert {"peak_rss_mb", "cpu_percent_mean", "seconds", "gpu_peak_mb"} <= set(peaks)
    assert peaks["peak_rss_mb"] >= 0.9 * ALLOC_MB and peaks["seconds"] >= 0.6
    if not monitor._Gpu().handles:
        assert peaks["gpu_peak_mb"] is None


@pytest.mark.parametrize("args", [[], ["--"], ["--interval", "0", "--", "true"]])
def test_cli_bad_input_is_one_error_line(capfd, args):
    code, _, err = _cli(capfd, *args)
    assert code == 2
    assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1, err


class _FakeNvml:
    """Stands in for pynvml: one device, two processes, fixed figures (no GPU needed)."""

    class NVMLError(Exception):
        pass

    def __init__(self, pids):
        self.pids = pids

    def nvmlDeviceGetUtilizationRates(self, h):
        return type("U", (), {"gpu": 37})()

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        mk = type("P", (), {})
        procs = []
        for pid, mb in self.pids:
            p = mk()
            p.pid, p.usedGpuMemory = pid, mb * monitor.MB
            procs.append(p)
        return procs

    def nvmlDeviceGetMemoryInfo(self, h):
        return type("M", (), {"used": 5000 * monitor.MB})()


def test_gpu_reading_counts_the_tree_and_falls_back_to_the_device():
    gpu = monitor._Gpu.__new__(monitor._Gpu)
    gpu.handles = ["dev0"]
    gpu.nvml = _FakeNvml([(10, 700), (11, 300), (99, 4000)])
    mb, util, method = gpu.read({10, 11})
    assert (mb, util) == (1000, 37) and "monitored processes" in method
    mb, _, method = gpu.read({12})  # NVML sees other PIDs only (containers): whole device
    assert mb == 5000 and "whole device" in method


def test_plot_survives_samples_appended_while_drawing():
    """The sampling thread appends to ``monitor.samples`` while a LivePlot draws it."""
    import matplotlib

    matplotlib.use("Agg")

    class Growing(list):
        def __iter__(self):  # every pass over the list finds one more sample, like a live thread
            it = iter(self.copy())
            self.append(monitor.Sample(len(self) * 0.1, 1.0, 1.0))
            return it

    fig = monitor.plot_samples(Growing([monitor.Sample(0.0, 1.0, 1.0)]))
    xs, ys = fig.axes[0].lines[0].get_data()
    assert len(xs) == len(ys) == 1
