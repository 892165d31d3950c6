"""One validator for every entry point: each bad input x each entry point gives its message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recipes.cli import build_parser, main
from recipes.pipelines import request as rq
from recipes.pipelines.request import GenerationRequest, RequestError, validate

LONG = "a large red circle on the left " * 40  # > 77 CLIP tokens

# (CLI options, request fields, expected message fragment)
BAD = [
    (["--prompt", ""], {"prompt": ""}, "empty prompt"),
    (["--prompt", "   "], {"prompt": "   "}, "empty prompt"),
    (["--prompt", LONG], {"prompt": LONG}, "tokens but the text encoder reads at most 77"),
    (["--steps", "0"], {"steps": 0}, "steps must be an integer from 1 to 1000"),
    (["--steps", "-3"], {"steps": -3}, "steps must be an integer from 1 to 1000"),
    (["--steps", "1000000"], {"steps": 10**6}, "steps must be an integer from 1 to 1000"),
    (["--guidance", "-5"], {"guidance": -5.0}, "guidance must be from 0 to 50"),
    (["--guidance", "nan"], {"guidance": float("nan")}, "guidance must be from 0 to 50"),
    (["--guidance", "1000"], {"guidance": 1000.0}, "guidance must be from 0 to 50"),
    (["--size", "60"], {"height": 60, "width": 60}, "multiple of 8"),
    (["--size", "0"], {"height": 0, "width": 0}, "multiple of 8"),
    (["--size", "4096"], {"height": 4096, "width": 4096}, "multiple of 8 from 8 to 2048"),
    (["--seed", "-1"], {"seed": -1}, "seed must be an integer"),
    (["--scheduler", "nope"], {"scheduler": "nope"}, "Unknown scheduler 'nope'"),
    (["--model", "no-such-model"], None, "Unknown model 'no-such-model'"),
]
IDS = [f"{i}-{b[2][:20]}" for i, b in enumerate(BAD)]
# The validator sees request fields (model names are resolved by the loader); evaluate has
# no --size (it generates at the model's own size).
BAD_FIELDS = [b for b in BAD if b[1] is not None]
BAD_EVAL = [b for b in BAD if "--size" not in b[0]]


@pytest.fixture(scope="module")
def tokenizer():
    return rq.model_tokenizer("toy")


@pytest.fixture
def no_model_load(monkeypatch):
    """Invalid input must be refused before any weights load."""
    def refuse(*a, **k):
        raise AssertionError("the model was loaded for invalid input")

    monkeypatch.setattr("recipes.pipelines.models.load_pipeline", refuse)


@pytest.mark.parametrize(("cli", "fields", "message"), BAD_FIELDS)
def test_validator(cli, fields, message, tokenizer):
    req = GenerationRequest(**{"prompt": "a red circle", **fields})
    with pytest.raises(RequestError) as info:
        validate(req, tokenizer=tokenizer)
    assert message in str(info.value)
    assert all(p.zh and p.en for p in info.value.problems)  # bilingual, one per problem


def _options(cli: list[str]) -> list[str]:
    return cli if "--prompt" in cli else ["--prompt", "a red circle", *cli]


@pytest.mark.parametrize(("cli", "fields", "message"), BAD, ids=IDS)
def test_cli_generate(cli, fields, message, tmp_path, capsys, no_model_load):
    out = tmp_path / "img.png"
    assert main(["generate", *_options(cli), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temp file


@pytest.mark.parametrize(("cli", "fields", "message"), BAD_EVAL)
def test_cli_evaluate(cli, fields, message, tmp_path, capsys, no_model_load):
    opts = _options(cli)
    prompt = opts[opts.index("--prompt") + 1]
    rest = [o for i, o in enumerate(opts) if o != "--prompt" and opts[i - 1] != "--prompt"]
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": prompt, "expect": {"color": "red"}}) + "\n")
    assert main(["evaluate", "--prompts", str(path), *rest]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_cli_evaluate_misses_folder_missing(tmp_path, capsys, no_model_load):
    """--misses into a folder that is not there: refused before any image is generated."""
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "a red circle"}) + "\n")
    misses = tmp_path / "nowhere" / "m.jsonl"
    assert main(["evaluate", "--prompts", str(path), "--misses", str(misses)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --misses") and "nowhere" in err[0], err
    assert main(["evaluate", "--prompts", str(path), "--misses", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0], err


@pytest.mark.parametrize(("cli", "fields", "message"), BAD, ids=IDS)
def test_cli_generate_many(cli, fields, message, tmp_path, capsys, no_model_load):
    """Chapter 07's batch command: the same table, refused before any worker starts."""
    opts = _options(cli)
    prompt = opts[opts.index("--prompt") + 1]
    rest = [o for i, o in enumerate(opts) if o != "--prompt" and opts[i - 1] != "--prompt"]
    path = tmp_path / "p.jsonl"
    lines = [json.dumps({"prompt": "a red circle"}), json.dumps({"prompt": prompt})]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["generate-many", "--prompts", str(path), "--out", str(out), *rest]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.exists() or list(out.iterdir()) == []  # no image, not even for the good line


# The playground's widgets cannot even hold most bad values (sliders clamp steps, guidance
# and size; the scheduler dropdown only lists the registry): what a learner can type is
# the prompt and the seed, and those must come back as the one red line.
BAD_PLAYGROUND = [b for b in BAD_FIELDS if set(b[1]) <= {"prompt", "seed"}]


@pytest.mark.parametrize(("cli", "fields", "message"), BAD_PLAYGROUND)
def test_playground(cli, fields, message, toy_pipe, tmp_path):
    from recipes.playground.app import Playground

    app = Playground("toy", pipes={"toy": toy_pipe}, assets=tmp_path)
    for name, value in fields.items():
        getattr(app, name).value = value
    app.button.click()
    assert message in app.error.value and "Traceback" not in app.error.value
    assert app.error.value.count("<div") == 1 and app.last is None and app.image.value == b""


def test_valid_request_is_normalised():
    req = validate(GenerationRequest("  红色圆形  ", negative_prompt="  ", scheduler="Euler"))
    assert (req.prompt, req.negative_prompt, req.scheduler) == ("红色圆形", None, "euler")


def test_content_filter_blocks_with_reason():
    from recipes.chinese import ContentFilter

    with pytest.raises(RequestError, match="content filter") as info:
        validate(GenerationRequest("血腥的红色圆形"), content_filter=ContentFilter())
    assert "内容过滤" in info.value.zh


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        text = f"{sub.description or ''} {sub.epilog or ''}"
        assert sub.description and "python -m recipes" in text, f"{name}: description + example"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help and action.help.strip(), f"{name} {action.option_strings}"


def test_readme_limits_match_the_validator():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| 校验上限"))
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", row)]
    assert numbers == [rq.MAX_STEPS, rq.MAX_SIDE, rq.MAX_GUIDANCE], row
