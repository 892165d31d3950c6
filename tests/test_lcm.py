"""Issue 17: latent consistency distillation (LCM LoRA) of the toy UNet and its use."""

import json

import pytest
import torch

from recipes.lora import lcm
from recipes.toy import model as tm
from recipes.toy import train as tt


def test_boundary_scalings_match_lcm_scheduler():
    from diffusers import LCMScheduler

    sched = LCMScheduler.from_config(tm.inference_scheduler().config)
    t = torch.tensor([0, 1, 19, 259, 999])
    c_skip, c_out = lcm.boundary_scalings(t)
    for i, step in enumerate(t.tolist()):
        want_skip, want_out = sched.get_scalings_for_boundary_condition_discrete(step)
        assert c_skip[i].item() == pytest.approx(want_skip, rel=1e-5)
        assert c_out[i].item() == pytest.approx(want_out, rel=1e-5)
    assert c_skip[0].item() == 1.0 and c_out[0].item() == 0.0  # t = 0: the identity


def test_solver_grid_is_lcm_schedulers_grid():
    from diffusers import LCMScheduler

    sched = LCMScheduler.from_config(tm.inference_scheduler().config)
    sched.set_timesteps(lcm.GRID)
    grid = lcm.solver_grid()
    assert grid.tolist()[:3] == [19, 39, 59] and grid[-1] == 999
    assert sorted(sched.timesteps.tolist()) == grid.tolist()
    for steps in (1, 2, 4, 8):  # every inference schedule is a subset of the training grid
        sched.set_timesteps(steps)
        assert set(sched.timesteps.tolist()) <= set(grid.tolist())


def test_x0_eps_inverts_v_prediction():
    sched = tm.train_scheduler()
    x0, noise = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = torch.tensor([19, 500, 999])
    x_t = sched.add_noise(x0, noise, t)
    v = sched.get_velocity(x0, noise, t)
    got_x0, got_eps = lcm._x0_eps(v, x_t, sched.alphas_cumprod[t].view(-1, 1, 1, 1))
    assert torch.allclose(got_x0, x0, atol=1e-4) and torch.allclose(got_eps, noise, atol=1e-4)


def test_distill_saves_a_standard_lora_file(tmp_path):
    from recipes.pipelines.models import load_pipeline

    settings = lcm.LcmSettings(steps=3, batch=2, n_images=8, rank=2)
    unet, losses, seconds = lcm.distill(settings, progress=False)
    assert len(losses) == 3 and all(loss == loss for loss in losses)  # no NaN
    # the teacher pass switches the adapter off and back on: it must end up on
    assert all(m._disable_adapters is False for m in unet.modules()
               if hasattr(m, "_disable_adapters"))
    out = lcm.save_lcm(unet, losses, seconds, settings, tmp_path / "lcm")
    log = json.loads((out / "train_log.json").read_text())
    assert log["settings"]["rank"] == 2 and log["lora_parameters"] > 0
    pipe = load_pipeline("toy", device="cpu")
    lcm.lcm_pipeline(pipe, out)  # plain load_lora_weights + LCMScheduler
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    assert pipe.get_active_adapters() == ["lcm"]


def test_target_weights_are_swapped_in_and_restored():
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.ones(2))]
    ema = [torch.full((3,), 5.0), torch.full((2,), 7.0)]
    with tt.swapped_weights(params, ema):
        assert params[0].tolist() == [5.0] * 3 and params[1].tolist() == [7.0] * 2
    assert params[0].tolist() == [0.0] * 3 and params[1].tolist() == [1.0] * 2
    with pytest.raises(RuntimeError), tt.swapped_weights(params, ema):
        raise RuntimeError("the student's weights come back even when the target pass fails")
    assert params[0].tolist() == [0.0] * 3
    with tt.swapped_weights(params, None):  # no target network: the student itself
        assert params[1].tolist() == [1.0] * 2
    tt.ema_update(ema, params, 0.75)  # a quarter of the way to the weights
    assert ema[0].tolist() == [3.75] * 3 and ema[1].tolist() == [5.5] * 2
    tt.ema_update(None, params, 0.75)  # no average kept: nothing to do


def test_distill_with_a_target_network_and_an_excluded_level():
    settings = lcm.LcmSettings(steps=2, batch=2, n_images=8, rank=2, target_ema=0.9,
                               exclude=r"(down_blocks\.0|up_blocks\.2)\..*|conv_in|conv_out")
    unet, losses, _ = lcm.distill(settings, progress=False)
    assert len(losses) == 2 and all(loss == loss for loss in losses)
    names = [n for n, p in unet.named_parameters() if "lora_" in n]
    assert names and not any(n.startswith(("down_blocks.0.", "up_blocks.2.", "conv_in",
                                           "conv_out")) for n in names)
    assert any(n.startswith("down_blocks.1.") for n in names)


def test_missing_lcm_lora_says_how_to_make_it(tmp_path):
    from recipes.pipelines.models import load_pipeline

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="make toy-lcm"):
        lcm.lcm_pipeline(load_pipeline("toy", device="cpu"), tmp_path / "empty")


def test_shipped_lcm_lora_matches_its_recipe_and_draws_in_few_steps():
    from recipes.evaluation.evaluate import evaluate
    from recipes.pipelines.models import load_pipeline
    from recipes.pipelines.schedulers import set_scheduler
    from recipes.toy.promptsets import prompt_items

    weights = lcm.LCM_DIR / "pytorch_lora_weights.safetensors"
    if not weights.is_file():
        pytest.fail(f"{weights} missing: run make toy-lcm")
    log = json.loads((lcm.LCM_DIR / "train_log.json").read_text())
    want = lcm.LcmSettings()
    assert log["settings"] == {**vars(want), "target_modules": list(want.target_modules)}
    # small circles: what an adapter that drifted draws as lumpy blobs
    items = [it for it in prompt_items(300, seed=5)
             if it["expect"]["shape"] == "circle" and it["expect"]["size"] == "small"][:16]
    assert len(items) == 16
    k = lcm.RECOMMENDED_STEPS
    plain = set_scheduler(load_pipeline("toy", device="cpu"), "lcm")  # LCMScheduler, no LoRA
    without = evaluate(plain, items, steps=k, guidance=1.0)["all_correct"]
    with_lora = evaluate(lcm.lcm_pipeline(plain, lcm.LCM_DIR), items, steps=k,
                         guidance=1.0)["all_correct"]
    # make eval-lcm on 100 prompts: 1.00 at 2 steps with the adapter and 1.00 without it (a toy
    # prompt fixes the image, so the base model's one-shot clean-latent prediction is already
    # right). On these 16 prompts: 1.00 and 1.00; the adapter that drifted (own target, 3000
    # steps; 0.88 on make eval-lcm's 100) scores 0.44 here.
    assert with_lora >= 0.9, with_lora
    assert without >= 0.9, without


def test_bench_toy_adds_the_lcm_row():
    from recipes.perf.benchmarks import bench_toy

    out = bench_toy(images=2, steps=3, repeats=1, n_quality=2, compile=False, lcm_steps=2)
    assert out["lcm_steps"] == 2 and 0 <= out["accuracy_lcm"] <= 1
    assert out["speedup_lcm"] > 0 and out["fast_lcm_timing"]["repeats"] == 1
    assert "LCM LoRA fused" in out["lcm"]
    assert 0 <= out["accuracy_lcm_scheduler_without_lora"] <= 1
    # the preset's guidance cutoff is timed against the same pipe with guidance on every step
    assert any("guidance stops" in s for s in out["fast_preset"])
    assert out["fast_full_cfg_s"] > 0 and out["speedup_from_cfg_cutoff"] > 0
    json.dumps(out)


def test_fused_and_unloaded_lcm_lora_draws_what_the_adapter_draws():
    """bench fuses the LoRA and drops the peft layers before fast_preset freezes the weights."""
    import numpy as np

    from recipes.pipelines.generate import generate
    from recipes.pipelines.models import load_pipeline

    prompts = ["a large red circle on the left", "a small blue square at the top"]
    adapter = lcm.lcm_pipeline(load_pipeline("toy", device="cpu"))
    fused = lcm.lcm_pipeline(load_pipeline("toy", device="cpu"))
    fused.fuse_lora()
    fused.unload_lora_weights()
    assert not any("lora" in name for name, _ in fused.unet.named_modules())
    a, b = (np.stack([np.asarray(im, np.int16) for im in
                      generate(p, prompts, 0, steps=4, guidance=1.0)]) for p in (adapter, fused))
    assert np.abs(a - b).max() <= 2
