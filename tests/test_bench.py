"""recipes.bench: timing protocol, peak memory, records and tables."""

import json
import time

import numpy as np
import pytest

from recipes import bench


def test_time_call_warms_up_then_repeats():
    calls = []
    timing = bench.time_call(lambda: calls.append(time.sleep(0.01)), repeats=4, warmup=2)
    assert len(calls) == 6
    assert len(timing.times) == 4 and len(timing.warmup_s) == 2
    assert 0.009 <= timing.median_s < 1.0
    d = timing.as_dict()
    assert d["repeats"] == 4 and d["min_s"] <= d["median_s"] <= d["max_s"]


def test_time_call_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        bench.time_call(lambda: None, repeats=0)


def test_alternating_interleaves_calls():
    order = []
    out = bench.time_alternating({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                 repeats=3, warmup=1)
    assert order == ["a", "b"] * 4
    assert len(out["a"].times) == 3 and len(out["b"].warmup_s) == 1


def test_peak_memory_sees_a_large_allocation():
    with bench.peak_memory("cpu") as mem:
        block = np.ones((64, 2**20), dtype=np.float32)  # 256 MB, touched
        block[::1024] += 1
        time.sleep(0.05)
        del block
    assert "RSS" in mem.method
    assert 150 <= mem.peak_mb <= 1024, mem


def test_peak_memory_small_block_is_small():
    with bench.peak_memory("cpu") as mem:
        sum(range(1000))
    assert mem.peak_mb < 50


def test_save_writes_machine_and_records(tmp_path):
    path = bench.save("unit", [{"x": 1.0}], folder=tmp_path)
    data = json.loads(path.read_text())
    assert data["records"] == [{"x": 1.0}]
    assert data["machine"]["torch_threads"] >= 1 and data["machine"]["torch"]


def test_markdown_table_formats_rows():
    table = bench.markdown_table([{"name": "fp32", "s": 1.23456, "acc": None}], digits=2)
    lines = table.splitlines()
    assert lines[0] == "| name | s | acc |"
    assert lines[2] == "| fp32 | 1.23 | — |"
    assert bench.markdown_table([]) == "(no records)"


def test_peak_memory_sees_reused_memory_again():
    """A second identical allocation must still be seen: freed heap memory is trimmed first.

    64 KB blocks live on the glibc heap; without the trim the second round reuses
    the freed heap pages and RSS does not grow (measured: 65.7 MB, then 0.6 MB).
    """
    import torch

    if not bench.release_free_memory():
        pytest.skip("no glibc malloc_trim on this platform")

    def allocate():
        blocks = [torch.ones(2**14) for _ in range(1024)]  # 1024 x 64 KB = 64 MB
        time.sleep(0.05)
        return len(blocks)

    peaks = []
    for _ in range(2):
        with bench.peak_memory("cpu") as mem:
            allocate()
        peaks.append(mem.peak_mb)
    assert min(peaks) > 40, peaks
