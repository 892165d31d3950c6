"""Chapter 07: generate-many over 1 and 2 processes, prompt file errors, the world-size guard."""

import json
import os
import subprocess
import sys

import pytest

from recipes.cli import main
from recipes.distributed.data_parallel import (
    WorldSizeError,
    check_world_size,
    shard_bounds,
    trim_padded,
)

PROMPTS = ['{"prompt": "a large red circle on the left"}', '"a small blue square on the right"',
           '{"prompt": "a green triangle at the top"}']


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "p.jsonl"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


def test_two_processes_match_one(prompt_file, tmp_path, capsys):
    summaries = {}
    for n in (1, 2):
        code, out, err = _run(capsys, ["generate-many", "--prompts", str(prompt_file),
                                       "--out", str(tmp_path / f"p{n}"), "--processes", str(n),
                                       "--threads", "1", "--steps", "2", "--seed", "5"])
        assert code == 0, err
        summaries[n] = json.loads(out.strip().splitlines()[-1])
    for n, per_rank in ((1, [3]), (2, [2, 1])):  # odd count: the first rank takes the extra
        s = summaries[n]
        assert (s["n_images"], s["processes"], s["per_rank"]) == (3, n, per_rank)
        assert s["images_per_second"] == pytest.approx(3 / s["seconds"], rel=0.01)
    names = sorted(p.name for p in (tmp_path / "p2").iterdir())
    assert names == ["00000.png", "00001.png", "00002.png"]
    for name in names:  # same seed per line and batch 1: byte-identical files
        assert (tmp_path / "p1" / name).read_bytes() == (tmp_path / "p2" / name).read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging removed


@pytest.mark.parametrize("content, extra, expect", [
    (None, [], "no such file"),
    ("\n\n", [], "no prompts"),
    ('{"prompt": "a red circle"}\nnot json\n', [], "line 2"),
    ('{"prompt": "a red circle"}\n\n"a blue square"\n', [], "line 2"),
    ('{"text": "a red circle"}\n', [], "line 1"),
    ('"a red circle"\n"  "\n', [], "prompt 2"),
    ('"a red circle"\n', ["--processes", "0"], "--processes must be from 1"),
    ('"a red circle"\n', ["--threads", "0"], "--threads must be from 1"),
    ('"a red circle"\n', ["--steps", "0"], "steps must be"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, content, extra, expect):
    path = tmp_path / "p.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = _run(capsys, ["generate-many", "--prompts", str(path),
                                   "--out", str(tmp_path / "imgs"), *extra])
    assert code == 2
    assert err.startswith("error:") and expect in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "imgs").exists() and out == ""


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_cover_in_order_and_trim_padding(n, world):
    bounds = [shard_bounds(n, world, r) for r in range(world)]
    assert [i for s, e in bounds for i in range(s, e)] == list(range(n))
    sizes = [e - s for s, e in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    # What apply_padding=True hands out: each slice filled up with the last item.
    block = -(-n // world)
    padded = [i for s, e in bounds for i in list(range(s, e)) + [n - 1] * (block - (e - s))]
    assert trim_padded(padded, n, world) == list(range(n))


def test_world_size_guard():
    check_world_size(2, {"WORLD_SIZE": "2"})
    check_world_size(1, {})
    with pytest.raises(WorldSizeError, match="PartialState\\(cpu=True\\)"):
        check_world_size(1, {"WORLD_SIZE": "2"})


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the pitfall is CPU-only")
def test_plain_partial_state_falls_back_silently_and_the_guard_catches_it():
    # Without cpu=True, accelerate finds no GPU backend under torchrun and reports a
    # world of one on every rank: each would generate everything. The guard stops it.
    from recipes.distributed.cli import free_port

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "recipes.distributed.data_parallel", "--probe", "plain"]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.count("PartialState(cpu=False): num_processes=1,") == 2
    assert proc.returncode != 0
    assert proc.stderr.count("error: torchrun started 2 processes but this one sees a world "
                             "of 1") == 2
