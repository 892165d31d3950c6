"""Loading the toy pipeline, reproducibility, and every bad-input path of the CLI."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from recipes import models, toyworld
from recipes.evaluation.evaluate import read_prompts
from recipes.pipelines.generate import PromptError, check_prompt, generate


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "recipes", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_toy_loads_offline_by_name_and_by_path(toy_pipe):
    from diffusers import StableDiffusionPipeline

    assert isinstance(toy_pipe, StableDiffusionPipeline)
    assert toy_pipe.safety_checker is None
    by_path = StableDiffusionPipeline.from_pretrained(str(models.SHORT_NAMES["toy"]))
    assert by_path.unet.config == toy_pipe.unet.config
    files = [p.name for p in models.SHORT_NAMES["toy"].rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))], files
    total = sum(p.stat().st_size for p in models.SHORT_NAMES["toy"].rglob("*") if p.is_file())
    assert total < 40 * 2**20


def test_same_seed_same_image(toy_pipe):
    prompt = ["a large red circle on the left, white background"]
    a = np.asarray(generate(toy_pipe, prompt, seed=3, steps=5)[0])
    b = np.asarray(generate(toy_pipe, prompt, seed=3, steps=5)[0])
    c = np.asarray(generate(toy_pipe, prompt, seed=4, steps=5)[0])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_image_does_not_depend_on_batch_position(toy_pipe):
    prompts = ["a small blue square at the top, black background",
               "a large red circle on the left, white background"]
    both = generate(toy_pipe, prompts, seed=10, steps=5, batch_size=2)
    alone = generate(toy_pipe, prompts[1:], seed=11, steps=5)
    diff = np.abs(np.asarray(both[1], float) - np.asarray(alone[0], float)).max()
    assert diff <= 2  # batched matmuls may differ in the last bit, never in content


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="'toy'"):
        models.resolve("not a model!")


def test_missing_toy_weights_say_how_to_restore(monkeypatch, tmp_path):
    monkeypatch.setitem(models.SHORT_NAMES, "toy", tmp_path / "nothing")
    with pytest.raises(models.ModelNotAvailable, match="make toy-model"):
        models.resolve("toy")


def test_folder_without_model_index(tmp_path):
    with pytest.raises(models.ModelNotAvailable, match="model_index.json"):
        models.resolve(tmp_path)


def test_uncached_hub_model_offline_explains_the_fixes():
    with pytest.raises(models.ModelNotAvailable) as err:
        models.load_pipeline("some-org/not-cached-model", device="cpu")
    message = str(err.value)
    assert "HF_ENDPOINT" in message and "--local-dir" in message and "'toy'" in message


def test_corrupted_weights_are_reported(tmp_path):
    copy = tmp_path / "toy"
    shutil.copytree(models.SHORT_NAMES["toy"], copy)
    weights = next((copy / "unet").glob("*.safetensors"))
    weights.write_bytes(b"this is not a safetensors file")
    with pytest.raises(models.ModelNotAvailable, match="corrupted"):
        models.load_pipeline(copy, device="cpu")


def test_prompt_checks(toy_pipe):
    with pytest.raises(PromptError, match="Empty prompt"):
        check_prompt("   ")
    with pytest.raises(PromptError, match="at most 77"):
        check_prompt("red circle " * 60, toy_pipe.tokenizer)
    assert check_prompt(" red circle ", toy_pipe.tokenizer) == "red circle"


def test_read_prompts_names_the_bad_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a red circle"}\n\n{"prompt": broken}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"p.jsonl:3: not valid JSON"):
        read_prompts(f)
    f.write_text('{"prompt": "a red circle"}\n{"expect": {}}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r":2: expected an object"):
        read_prompts(f)
    f.write_text('{"prompt": "红色的圆，左边"}\n', encoding="utf-8")
    assert read_prompts(f)[0]["expect"] == {"color": "red", "shape": "circle", "position": "left"}


BAD_INPUTS = [
    (["generate", "--prompt", " "], "empty prompt"),
    (["generate", "--prompt", "red circle", "--model", "nope!"], "Unknown model"),
    (["generate", "--prompt", "red circle", "--scheduler", "eulr"], "Unknown scheduler"),
    (["generate", "--prompt", "red circle", "--size", "60"], "multiple of 8"),
    (["judge", "README.md"], "cannot read image"),
    (["judge", "no-such-file.png"], "cannot read image"),
    (["evaluate", "--prompts", "no-such-file.jsonl"], "file not found"),
]

# One child process runs every bad-input command through the CLI's ``main`` (what
# ``python -m recipes`` calls), each with its own captured stdout/stderr: the same
# exit codes and messages as one process per command, without paying the torch +
# diffusers import eight times. Anything written to the child's real stderr (a logging
# handler bound at import, a crash) fails every case.
CHILD = """
import contextlib, io, json, sys, traceback
from recipes.cli import main
runs = []
for argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
    runs.append({"returncode": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
print(json.dumps(runs))
"""


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Every bad-input command's (returncode, stderr), from one child process."""
    bad_jsonl = tmp_path_factory.mktemp("cli") / "bad.jsonl"
    bad_jsonl.write_text('{"prompt": "red circle"}\n{oops\n', encoding="utf-8")
    argvs = [args for args, _ in BAD_INPUTS] + [["evaluate", "--prompts", str(bad_jsonl)]]
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(argvs)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    return {tuple(argv): run for argv, run in zip(argvs[:-1], runs, strict=False)} | {
        "malformed": runs[-1]}


@pytest.mark.parametrize("args, fragment", BAD_INPUTS)
def test_cli_bad_input_is_one_line_and_exit_2(bad_runs, args, fragment):
    out = bad_runs[tuple(args)]
    assert out["returncode"] == 2, out["stderr"]
    lines = out["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], out


def test_cli_malformed_jsonl_names_the_line(bad_runs):
    out = bad_runs["malformed"]
    assert out["returncode"] == 2 and "bad.jsonl:2" in out["stderr"], out


def test_cli_judge_reads_a_render(tmp_path):
    scene = toyworld.Scene("triangle", "blue", "right", "large", "black")
    path = tmp_path / "t.png"
    toyworld.render(scene).save(path)
    out = cli("judge", path, "--prompt", "a big blue triangle on the right, black background")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["attributes"]["shape"] == "triangle" and result["all_correct"] is True


def test_cli_generate_then_judge(tmp_path):
    path = tmp_path / "img.png"
    out = cli("generate", "--prompt", "a large red circle on the left, white background",
              "--seed", 0, "--steps", 25, "--out", path)
    assert out.returncode == 0, out.stderr
    result = json.loads(cli("judge", path, "--prompt", "a large red circle on the left, "
                            "white background").stdout)
    assert result["all_correct"], result
