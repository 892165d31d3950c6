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
    from recipes.toy.parse import parse_prompt

    free_ink = LP.concept_items("ink", 30, free=True)
    templated = {it["prompt"] for it in LP.concept_items("ink", 30)}
    assert not templated & {it["prompt"] for it in free_ink}
    for it in free_ink:  # free wording, same known answers: the parser reads them back
        got, want = parse_prompt(it["prompt"]), it["expect"]
        assert {k: got.get(k) for k in want} == want, it["prompt"]
    with pytest.raises(ValueError, match="English only"):
        LP.concept_items("ink", 3, lang="zh", free=True)
    records = LP.training_records("star", 40, prior_fraction=0.5)
    assert sum(r.scene.shape == "star" for r in records) == 20
    free = LP.training_records("star", 40, prior_fraction=0.5, free_share=0.5)
    assert [r.scene for r in free] == [r.scene for r in records]  # same images, some re-captioned
    changed = [f.caption for f, r in zip(free, records, strict=True) if f.caption != r.caption]
    assert 10 <= len(changed) <= 30
    with pytest.raises(ValueError, match="English"):
        LP.training_records("star", 4, langs=("en", "zh"), free_share=0.5)
    for f in free:  # every free caption still names the scene's shape and colour
        got = parse_prompt(f.caption)
        assert (got.get("shape"), got.get("color")) == (f.scene.shape, f.scene.color), f.caption


def test_partial_items_expect_only_what_they_say():
    from recipes.toy.parse import parse_prompt

    items = LP.concept_items("ink", 200, partial=True)
    assert items == LP.concept_items("ink", 200, partial=True)  # seeded
    omitted = set()
    for it in items:
        said = it["expect"]
        assert said["style"] == "ink" and "shape" in said and len(said) < 6, it
        assert parse_prompt(it["prompt"]) == said, it["prompt"]
        omitted.add(frozenset({"color", "size", "position", "background"} - set(said)))
    assert frozenset({"color", "size", "position", "background"}) in omitted  # "an ink star"
    assert len(omitted) == 15  # every non-empty subset of the four
    with pytest.raises(ValueError, match="not both"):
        LP.concept_items("star", 2, free=True, partial=True)
    records = LP.training_records("star", 40, prior_fraction=0.5)
    part = LP.training_records("star", 40, prior_fraction=0.5, partial_share=0.5)
    assert [r.scene for r in part] == [r.scene for r in records]  # same images
    changed = [p for p, r in zip(part, records, strict=True) if p.caption != r.caption]
    assert 10 <= len(changed) <= 30
    for p in changed:  # each says less than its scene, and nothing false; always the place
        got = parse_prompt(p.caption)
        assert got.items() < p.scene.as_dict().items() and "position" in got, p.caption


def test_shipped_prompt_sets_are_what_concept_items_draws():
    """make eval-lora's committed prompt sets are regenerated each run: a change to the
    caption grammar's random draws would silently swap the sets every number refers to."""
    from pathlib import Path

    for name, kwargs in (("star", {}), ("free_star", {"free": True}),
                         ("partial_ink", {"partial": True})):
        concept = name.split("_")[-1]
        path = Path(__file__).parents[1] / "results" / f"prompts_lora_{name}.jsonl"
        lines = [json.loads(ln) for ln in path.read_text().splitlines()]
        assert lines == LP.concept_items(concept, 100, **kwargs), path


def test_seconds_long_training_saves_a_loadable_adapter(tmp_path):
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    from recipes.toy.model import ASSETS

    settings = LT.LoraSettings(concept="star", rank=2, alpha=2, steps=3, batch=4, n_images=8,
                               text_encoder_rank=2)
    assert {"to_q", "conv1"} <= set(settings.target_modules)  # attention and convolutions
    result = LT.train_lora(settings, progress=False)
    assert len(result.losses) == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    out = LT.save_adapter(result, tmp_path / "lora-test", settings)
    weights = out / L.WEIGHT_NAME
    assert weights.is_file() and json.loads((out / "train_log.json").read_text())["loss"]
    assert L.check_lora_file(weights) == weights
    pipe = StableDiffusionPipeline.from_pretrained(ASSETS / "toy", safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    specs = L.resolve_specs([f"{out}:0.5"])
    L.apply_loras(pipe, specs)
    assert pipe.get_list_adapters() == {"unet": ["lora_test"], "text_encoder": ["lora_test"]}
    # Every trained tensor arrives, attention and convolution alike (a file mixing diffusers'
    # and peft's key names loads only one half, silently).
    for model, trained in ((pipe.unet, result.unet), (pipe.text_encoder, result.text_encoder)):
        want = get_peft_model_state_dict(trained)
        got = get_peft_model_state_dict(model, adapter_name="lora_test")
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k].half().float()) for k in want)  # saved as fp16
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


def test_training_checkpoints_grad_norms_and_text_encoder_lr():
    """on_checkpoint sees the models (eval mode, no grad) every k steps and after the last;
    the gradient norm of every step is kept; the text encoder's LoRA learns at its own lr."""
    from peft.utils import get_peft_model_state_dict

    kw = {"concept": "star", "rank": 2, "alpha": 2, "steps": 5, "batch": 4, "n_images": 8,
          "text_encoder_rank": 2}
    seen = {}

    def hook(step, unet, text_encoder):
        assert not unet.training and not text_encoder.training and not torch.is_grad_enabled()
        seen[step] = {k: v.clone() for k, v in get_peft_model_state_dict(unet).items()}

    slow = LT.train_lora(LT.LoraSettings(**kw, text_encoder_lr_scale=0.0), progress=False,
                         on_checkpoint=hook, checkpoint_every=2)
    assert sorted(seen) == [2, 4, 5]
    assert len(slow.grad_norms) == 5 and all(n > 0 for n in slow.grad_norms)
    final = get_peft_model_state_dict(slow.unet)
    assert all(torch.equal(final[k], seen[5][k]) for k in final)
    # lr scale 0: the text encoder's LoRA B stays at its zero init, the UNet's moved
    text_b = [v for k, v in get_peft_model_state_dict(slow.text_encoder).items() if "lora_B" in k]
    assert text_b and all(torch.count_nonzero(v) == 0 for v in text_b)
    assert any(torch.count_nonzero(v) for k, v in final.items() if "lora_B" in k)


def test_ema_adapter_is_the_moving_average_of_the_raw_run():
    """With ``ema`` the checkpoints and the result hold the moving average of the weights
    the same run without it goes through (lora_B starts at zero: e_k = d e_(k-1) + (1-d) p_k)."""
    from peft.utils import get_peft_model_state_dict

    kw = {"concept": "star", "rank": 2, "alpha": 2, "steps": 3, "batch": 4, "n_images": 8,
          "text_encoder_rank": 2}
    runs = {}
    for decay in (0.0, 0.5):
        seen = runs[decay] = {}

        def hook(step, unet, text_encoder, seen=seen):
            seen[step] = {k: v.clone() for k, v in get_peft_model_state_dict(unet).items()
                          if "lora_B" in k}

        result = LT.train_lora(LT.LoraSettings(**kw, ema=decay), progress=False,
                               on_checkpoint=hook, checkpoint_every=1)
        final = get_peft_model_state_dict(result.unet)
        assert all(torch.equal(final[k], v) for k, v in seen[3].items())
    raw, avg = runs[0.0], runs[0.5]
    for k in raw[1]:
        expect = torch.zeros_like(raw[1][k])
        for step in (1, 2, 3):
            expect = 0.5 * expect + 0.5 * raw[step][k]
            assert torch.allclose(avg[step][k], expect, atol=1e-7), (k, step)
    assert any(not torch.equal(raw[3][k], avg[3][k]) for k in raw[3])


def test_mid_t_share_draws_timesteps_from_the_middle(monkeypatch):
    real = LT.tm.train_scheduler
    seen: list[torch.Tensor] = []

    def recording():
        sched = real()
        add = sched.add_noise

        def add_noise(x, noise, t):
            seen.append(t.clone())
            return add(x, noise, t)

        sched.add_noise = add_noise
        return sched

    monkeypatch.setattr(LT.tm, "train_scheduler", recording)
    kw = {"concept": "star", "rank": 2, "alpha": 2, "steps": 3, "batch": 8, "n_images": 8}
    for share in (1.0, 0.0):
        seen.clear()
        LT.train_lora(LT.LoraSettings(**kw, mid_t_share=share), progress=False)
        t = torch.cat(seen)
        inside = ((t >= LT.MID_T[0]) & (t < LT.MID_T[1])).float().mean()
        assert inside == 1.0 if share else inside < 1.0, (share, t.tolist())


def test_text_encoder_lora_hotswaps_and_is_refused_by_toy_zh(tmp_path):
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file

    from recipes.toy.model import ASSETS

    settings = LT.LoraSettings(concept="star", rank=2, alpha=2, steps=1, batch=4, n_images=8,
                               text_encoder_rank=2)
    out = LT.save_adapter(LT.train_lora(settings, progress=False), tmp_path / "a", settings)
    first = out / L.WEIGHT_NAME
    parts = L.split_lora(first)
    assert set(parts) == {"unet", "text_encoder"} and all(parts.values())
    second = tmp_path / "b.safetensors"  # same layers, other weights
    save_file({f"{c}.{k}": 2 * v for c, sd in parts.items() for k, v in sd.items()}, second)

    zh = StableDiffusionPipeline.from_pretrained(ASSETS / "toy-zh", safety_checker=None)
    with pytest.raises(L.LoraError, match="text encoder this model does not have"):
        L.apply_loras(zh, L.resolve_specs([str(first)]))
    assert not zh.get_list_adapters()  # refused before anything was loaded

    pipe = StableDiffusionPipeline.from_pretrained(ASSETS / "toy", safety_checker=None)
    pipe.enable_lora_hotswap(target_rank=2)
    pipe.load_lora_weights(str(first), adapter_name="style")
    with pytest.raises(ValueError, match="not supported for text encoders"):
        pipe.load_lora_weights(str(second), adapter_name="style", hotswap=True)
    L.hotswap_lora(pipe, second, "style")
    assert pipe.get_list_adapters() == {"unet": ["style"], "text_encoder": ["style"]}
    for model, part in ((pipe.unet, "unet"), (pipe.text_encoder, "text_encoder")):
        name, want = next((k, v) for k, v in parts[part].items() if "lora_B" in k)
        suffix = name.replace(".weight", ".style.weight")
        got = next(p for n, p in model.named_parameters() if n.endswith(suffix))
        assert torch.allclose(got.float(), 2 * want.float()), part


# LoraSettings fields added after the shipped adapters were trained (2026-12-05); at their
# defaults the training is the same: one AdamW group per model at the same lr, no clipping
# (checked once bit for bit against train_lora of 0353351: 12 steps, UNet + text encoder).
LATER_OPTIONS = ("max_grad_norm", "text_encoder_lr_scale", "mid_t_share", "ema", "free_share",
                 "partial_share", "lead_in_share", "uncond_concept_only")


@pytest.mark.parametrize("name", sorted(set(L.SHIPPED) - {"lcm"}))  # lcm: tests/test_lcm.py
def test_shipped_adapter(name):
    weights = L.SHIPPED[name] / L.WEIGHT_NAME
    if not weights.is_file():
        pytest.fail(f"{weights} missing: run make toy-lora")
    assert weights.stat().st_size <= 2 * 1024 * 1024
    assert L.resolve(name) == str(weights)
    log = json.loads((L.SHIPPED[name] / "train_log.json").read_text())
    recipe = LT.shipped_settings(name)
    shipped = {**vars(recipe), "target_modules": list(recipe.target_modules)}
    # options added after the adapter was trained count at their defaults (which change nothing)
    defaults = vars(LT.LoraSettings())
    logged = {**{k: defaults[k] for k in LATER_OPTIONS if k not in log["settings"]},
              **log["settings"]}
    assert logged == shipped, "shipped adapter no longer matches make toy-lora's recipe"


def test_count_recompiles_counts_graphs_not_calls():
    from recipes.lora.measure import count_recompiles

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x).relu() * 2

    layer = Tiny()
    count = count_recompiles(layer)
    assert isinstance(layer, Tiny)  # compiled in place: the class is kept
    layer(torch.randn(2, 4))
    layer(torch.randn(2, 4))
    assert count() == 1  # the second call reuses the graph
    layer(torch.randn(3, 2, 4))  # a new input rank fails a guard: one recompilation
    assert count() == 2
    torch._dynamo.reset()


def test_vae_ceiling_judges_round_tripped_renders():
    from diffusers import AutoencoderKL

    from recipes.lora.measure import vae_ceiling
    from recipes.toy.model import ASSETS

    vae = AutoencoderKL.from_pretrained(ASSETS / "toy" / "vae").eval()
    base = vae_ceiling(vae, "base", n=8)
    assert "style" not in base and base["shape"] >= 0.75 and base["color"] >= 0.75
    assert "style" in vae_ceiling(vae, "ink", n=4)


def test_quiet_lora_warnings_drops_only_the_known_messages(caplog):
    import logging
    import warnings

    L.quiet_lora_warnings()
    logger = logging.getLogger("diffusers.loaders.lora_base")
    with caplog.at_level(logging.WARNING, logger="diffusers.loaders.lora_base"):
        for model in ("CLIPTextModel", "BertModel"):
            logger.warning(f"No LoRA keys associated to {model} found with the "
                           "prefix='text_encoder'. This is safe to ignore ...")
        logger.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        L.quiet_lora_warnings()  # filters are re-added after simplefilter reset them
        warnings.warn("Already found a `peft_config` attribute in the model.", UserWarning,
                      stacklevel=1)
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning"]
    peft_logger = logging.getLogger("transformers.integrations.peft")
    head = "CLIPTextModel LOAD REPORT from: None\nKey | Status |\n---|---|\n"
    spurious = head + "encoder.layers.{0, 1}.self_attn.k_proj.lora_A.star.weight | MISSING |\n"
    real = head + "encoder.layers.0.self_attn.k_proj.weight | MISSING |\n"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="transformers.integrations.peft"):
        peft_logger.warning(spurious)
        peft_logger.warning(real)  # a base weight missing is a real problem: kept
    assert [r.getMessage() for r in caplog.records] == [real]


def test_lora_trajectory_tool_judges_each_checkpoint(tmp_path, load_tool):
    """tools/lora_trajectory.py (the source of the issue-19 training curves) runs and adds up."""
    tool = load_tool("lora_trajectory")
    over = tool.parse_overrides(["steps=3", "batch=2", "n_images=6", "rank=2", "alpha=2",
                                 "text_encoder_lr_scale=0.3"])
    assert over["steps"] == 3 and over["text_encoder_lr_scale"] == 0.3
    with pytest.raises(SystemExit, match="LoraSettings field"):
        tool.parse_overrides(["no_such=1"])
    rows = tool.trajectory("star", 0, 2, over, sizes=(2, 0, 1), save=str(tmp_path / "a"),
                           free_sizes=(1, 0))
    assert [r["step"] for r in rows] == [2, 3]
    assert all(0 <= r["test"] <= 1 and "val" not in r and "base" in r for r in rows)
    assert all(0 <= r["free"] <= 1 and "free_base" not in r for r in rows)
    assert all(0 < r["grad_norm_median"] <= r["grad_norm_max"] for r in rows)
    assert (tmp_path / "a" / L.WEIGHT_NAME).is_file()


def test_lora_text_align_tool_moves_only_the_text_lora(load_tool):
    """tools/lora_text_align.py: its layout helper inverts recipes.toy.en's, and a few steps
    change the adapter's text-encoder LoRA and nothing else."""
    from recipes.pipelines.models import load_pipeline
    from recipes.toy.en import shifted_target

    tool = load_tool("lora_text_align")
    states, empty = torch.randn(77, 8), torch.randn(77, 8)
    for eos in (3, 20):
        back = tool.unshift(shifted_target(states, empty, eos), eos)
        assert torch.equal(back[:77 - eos], states[:77 - eos])
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    pipe.load_lora_weights(L.resolve("star"), adapter_name="star")
    before = {n: p.detach().clone() for n, p in pipe.text_encoder.named_parameters()}
    unet = {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}
    losses = tool.align(pipe, "star", steps=2, lr=1e-3, batch=4)
    assert len(losses) == 2 and all(0 < x < 1 for x in losses)
    moved = {n for n, p in pipe.text_encoder.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all("lora_" in n for n in moved)
    assert all(torch.equal(p, unet[n]) for n, p in pipe.unet.named_parameters())


def test_lead_in_share_leads_captions_with_filler():
    """training_records(lead_in_share=...): about that share of the captions get 3-16 words
    that name no attribute, then ': ' and the caption unchanged; the draw repeats."""
    from recipes.toy import captions as tc

    records = LP.training_records("star", 400, prior_fraction=0.5)
    led = LP.training_records("star", 400, prior_fraction=0.5, lead_in_share=0.5)
    assert led == LP.training_records("star", 400, prior_fraction=0.5, lead_in_share=0.5)
    changed = [(a, b) for a, b in zip(records, led, strict=True) if a.caption != b.caption]
    assert 150 < len(changed) < 250 and all(a.scene == b.scene for a, b in changed)
    attribute_words = set(tc.keywords("en"))
    for old, new in changed:
        head, _, tail = new.caption.partition(": ")
        assert tail == old.caption and 3 <= len(head.split()) <= 16
        assert not attribute_words & set(head.lower().split()), head
    with pytest.raises(ValueError, match="lead_in_share"):
        LP.training_records("star", 4, lead_in_share=1.5)


def test_lora_redraw_tool_judges_each_strength(load_tool):
    """tools/lora_redraw.py (the source of recipes.lora.train.MID_T) runs end to end."""
    tool = load_tool("lora_redraw")
    out = tool.redraw("star", n=6, size=None, strengths=(0.3,), batch=6)
    assert out["prompts"] == 6 and out["renders"] == 1.0  # the judge reads true renders
    assert set(out) >= {"text_to_image", "strength 0.3"}



def test_mix_prompt_set_is_the_star_set_in_ink_wash():
    """results/prompts_lora_mix_star_ink.jsonl (notebook 06's ink-wash star on 100 prompts) is
    make eval-lora's star template set with ", in ink-wash style" and style ink expected."""
    from pathlib import Path

    results = Path(__file__).parents[1] / "results"
    star = [json.loads(x) for x in (results / "prompts_lora_star.jsonl").read_text().splitlines()]
    mix = [json.loads(x) for x in
           (results / "prompts_lora_mix_star_ink.jsonl").read_text().splitlines()]
    assert mix == [{"prompt": it["prompt"] + ", in ink-wash style",
                    "expect": {**it["expect"], "style": "ink"}} for it in star]


def test_uncond_concept_only_empties_only_concept_captions():
    """Caption dropout on the concept's images only, from the same draws as the shipped recipe."""
    records = LP.training_records("ink", 40, seed=3, prior_fraction=0.5)
    concept = {r.caption: LT.is_concept(r.scene) for r in records}
    assert any(concept.values()) and not all(concept.values())

    def captions_seen(**over):
        seen = []
        tok, te, vae, unet = LT.load_parts()

        class Spy:  # the tokenizer, recording what train_lora asks it to read
            model_max_length = tok.model_max_length

            def __call__(self, texts, **kw):
                seen.extend(texts)
                return tok(texts, **kw)

        settings = LT.LoraSettings(concept="ink", steps=4, batch=16, rank=2, alpha=2,
                                   fg_weight=0, **over)
        LT.train_lora(settings, parts=(Spy(), te, vae, unet), records=records, progress=False)
        return seen

    kept = captions_seen(p_uncond=0.0)
    dropped = captions_seen(p_uncond=0.5, uncond_concept_only=True)
    assert len(kept) == len(dropped) == 64 and "" not in kept
    pairs = list(zip(kept, dropped, strict=True))
    assert any(d == "" for _, d in pairs), "p_uncond 0.5 empties some concept captions"
    assert all(d in ("", k) for k, d in pairs), "the same images, in the same order"
    assert all(concept[k] for k, d in pairs if d == ""), "only concept captions are emptied"
    assert any(not concept[k] for k, _ in pairs), "base captions were drawn, and all kept"


def test_guidance_choice_and_the_files_that_recommend_it(tmp_path):
    from types import SimpleNamespace

    from recipes.lora import guidance as G

    sweep = {"4.0": {"a": 0.9, "b": 0.8}, "5.0": {"a": 0.8, "b": 0.9}, "7.5": {"a": 0.7, "b": 0.9}}
    assert G.choose(sweep) == 5.0, "a tie goes to the larger scale"
    sweep["3.0"] = {"a": 1.0, "b": 0.9}
    assert G.choose(sweep) == 3.0
    folders = []
    for name, value in (("a", 4.0), ("b", 6.0)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / L.WEIGHT_NAME).write_bytes(b"")
        (folder / L.GUIDANCE_FILE).write_text(json.dumps({"recommended": value}))
        folders.append(folder)
    specs = [L.LoraSpec(str(f / L.WEIGHT_NAME), f.name) for f in folders]
    assert L.recommended_guidance(specs) == (4.0, folders[0] / L.GUIDANCE_FILE)
    assert L.recommended_guidance([L.LoraSpec("org/hub-lora", "x")]) is None
    args = SimpleNamespace(guidance=None)
    L.settle_guidance(args, specs)
    assert args.guidance == 4.0
    args = SimpleNamespace(guidance=9.0)
    L.settle_guidance(args, specs)
    assert args.guidance == 9.0, "--guidance wins"
    args = SimpleNamespace(guidance=None)
    L.settle_guidance(args, [])
    assert args.guidance == L.DEFAULT_GUIDANCE
    (folders[1] / L.GUIDANCE_FILE).write_text("{not json")
    with pytest.raises(L.LoraError, match="unreadable guidance file"):
        L.recommended_guidance(specs)


@pytest.mark.parametrize("name", ["star", "ink"])
def test_shipped_guidance_file_is_the_measured_choice(name):
    from recipes.lora import guidance as G

    path = L.SHIPPED[name] / L.GUIDANCE_FILE
    if not path.is_file():
        pytest.fail(f"{path} missing: run python -m recipes.lora.guidance --concept {name}")
    data = json.loads(path.read_text())
    assert set(data["all_correct"]) == {str(g) for g in G.SCALES}
    assert all(set(v) == {name, f"free_{name}", "base"} for v in data["all_correct"].values())
    assert data["recommended"] == G.choose(data["all_correct"])
    assert data["n_per_set"] >= 100 and data["prompt_seed"] == G.VAL_SEED != 0


def test_cli_uses_and_announces_the_adapters_guidance(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a red circle, ink wash style"}\n')
    want = json.loads((L.SHIPPED["ink"] / L.GUIDANCE_FILE).read_text())["recommended"]
    base = [sys.executable, "-m", "recipes", "evaluate", "--prompts", str(prompts),
            "--steps", "2", "--lora", "ink"]
    run = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["guidance"] == want
    assert f"note: guidance {want:g}" in run.stderr and "guidance.json" in run.stderr
    run = subprocess.run(base + ["--guidance", "7.5"], capture_output=True, text=True,
                         timeout=300)
    assert json.loads(run.stdout.splitlines()[-1])["guidance"] == 7.5
    assert "note: guidance" not in run.stderr
