"""Chapter 06 LoRA: spec parsing, bad-input errors, a seconds-long training, shipped files."""

import json
import subprocess
import sys

import pytest
import torch

from recipes.lora import load as L
from recipes.lora import prompts as LP
from recipes.lora import train as LT


@pytest.mark.parametrize("text, name, weight", [
    ("star", "star", 1.0), ("ink:0.5", "ink", 0.5), ("star:-1", "star", -1.0),
    ("some/dir:with:colons", "some/dir:with:colons", 1.0),
    ("x.safetensors:.25", "x.safetensors", 0.25),
])
def test_parse_spec(text, name, weight):
    assert L.parse_spec(text) == (name, weight)


@pytest.mark.parametrize("text, fragment", [
    ("star:9", "from -4 to 4"), (":0.5", "shipped name"), ("nope", "unknown LoRA 'nope'"),
    ("README.md", "not a LoRA file"),
    ("recipes/assets/toy/unet/diffusion_pytorch_model.safetensors", "no lora_A/lora_B"),
    ("recipes/assets/toy", "has no pytorch_lora_weights.safetensors"),
])
def test_bad_lora_is_one_clear_error(text, fragment):
    with pytest.raises(L.LoraError, match=fragment):
        L.resolve_specs([text])


def test_not_safetensors_bytes(tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"not really safetensors")
    with pytest.raises(L.LoraError, match="not a readable safetensors file"):
        L.resolve_specs([str(fake)])


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_cli_rejects_unknown_lora_before_loading(command, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a red star"}\n')
    extra = (["--prompt", "a red star", "--out", str(tmp_path / "x.png")] if command == "generate"
             else ["--prompts", str(prompts)])
    run = subprocess.run([sys.executable, "-m", "recipes", command, *extra, "--lora", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: unknown LoRA 'nope'"), run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.png").exists()


def test_concept_items_have_known_answers():
    star = LP.concept_items("star", 20)
    assert all(it["expect"]["shape"] == "star" for it in star)
    ink = LP.concept_items("ink", 20, lang="zh")
    assert all(it["expect"]["style"] == "ink" and "水墨" in it["prompt"] for it in ink)
    assert LP.concept_items("star", 5) == LP.concept_items("star", 5)  # seeded
    records = LP.training_records("star", 40, prior_fraction=0.5)
    assert sum(r.scene.shape == "star" for r in records) == 20


def test_seconds_long_training_saves_a_loadable_adapter(tmp_path):
    from diffusers import StableDiffusionPipeline

    from recipes.toy.model import ASSETS

    settings = LT.LoraSettings(concept="star", rank=2, alpha=2, steps=3, batch=4, n_images=8)
    unet, losses, _ = LT.train_lora(settings, progress=False)
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    out = LT.save_adapter(unet, tmp_path / "lora-test", settings, losses, 1.0)
    weights = out / L.WEIGHT_NAME
    assert weights.is_file() and json.loads((out / "train_log.json").read_text())["loss"]
    assert L.check_lora_file(weights) == weights
    pipe = StableDiffusionPipeline.from_pretrained(ASSETS / "toy", safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    specs = L.resolve_specs([f"{out}:0.5"])
    L.apply_loras(pipe, specs)
    assert pipe.get_list_adapters() == {"unet": ["lora_test"]}
    pipe.fuse_lora()
    pipe.unfuse_lora()
    pipe.unload_lora_weights()
    after = pipe.unet.state_dict()
    assert after.keys() == before.keys()
    assert max((after[k] - before[k]).abs().max().item() for k in before) < 1e-5
    L.apply_loras(pipe, specs, fuse=True)  # what the CLI does: merged, LoRA layers gone
    fused = pipe.unet.state_dict()
    assert fused.keys() == before.keys()
    assert any(not torch.equal(before[k], fused[k]) for k in before)


@pytest.mark.parametrize("name", sorted(L.SHIPPED))
def test_shipped_adapter(name):
    weights = L.SHIPPED[name] / L.WEIGHT_NAME
    if not weights.is_file():
        pytest.fail(f"{weights} missing: run make toy-lora")
    assert weights.stat().st_size <= 2 * 1024 * 1024
    assert L.resolve(name) == str(weights)
    log = json.loads((L.SHIPPED[name] / "train_log.json").read_text())
    shipped = {**vars(LT.LoraSettings(concept=name)), "target_modules": list(LT.TARGET_MODULES)}
    assert log["settings"] == shipped, "shipped adapter no longer matches make toy-lora's recipe"
