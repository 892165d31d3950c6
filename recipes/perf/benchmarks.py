"""The two workloads of ``python -m recipes bench``: the toy model on CPU, SD-1.5 shapes on CUDA.

* ``bench_toy``: the toy pipeline, 4 images × 25 steps, diffusers' default
  (fp32, eager) against ``fast_preset``, timed alternately in one run, plus the
  judge's all-correct accuracy of both on the same prompts and seeds.
* ``bench_sd15``: a pipeline with Stable Diffusion 1.5's architecture built from
  configs with **random weights** (nothing can be downloaded here), 512×512,
  batch 1, 50 steps: timing only. Reports the denoising loop's it/s and how
  close it is to the FLOP floor (UNet FLOPs per step ÷ the device's measured
  matmul rate).
"""

from __future__ import annotations

import time

import torch

from recipes.perf import bench

FLOOR_NOTE = ("floor = UNet FLOPs per step (torch.utils.flop_counter, CFG batch 2) / measured "
              "dense fp16 matmul rate; % of floor = floor time / measured time per step")


def _call(pipe, prompts, steps, seed=0, guidance=7.5, **kw):
    from recipes.pipelines.generate import generators

    kw = {**getattr(pipe, "fast_preset_call", {}), **kw}  # fast_preset's guidance cutoff
    return pipe(prompts, num_inference_steps=steps, guidance_scale=guidance,
                generator=generators(range(seed, seed + len(prompts)), pipe.device), **kw).images


def lcm_fast_pipeline(model: str, device: str, compile: bool | None, path=None):
    """The toy pipeline with the LCM LoRA fused in, ``LCMScheduler``, then ``fast_preset``.

    Fused and unloaded *before* the preset: its compiled code freezes the weights.
    """
    from recipes.lora.lcm import LCM_DIR, lcm_pipeline
    from recipes.perf.fast import fast_preset
    from recipes.pipelines.models import load_pipeline

    pipe = lcm_pipeline(load_pipeline(model, device=device, dtype=torch.float32),
                        path or LCM_DIR)
    pipe.fuse_lora()
    pipe.unload_lora_weights()  # the fused weights stay; the peft layers go
    return fast_preset(pipe, compile=compile)


def bench_toy(model: str = "toy", device: str = "cpu", *, images: int = 4, steps: int = 25,
              repeats: int = 5, n_quality: int = 144, compile: bool | None = None,
              lcm_steps: int | None = None) -> dict:
    """Default pipeline vs ``fast_preset`` on the toy model: time, peak memory, judge accuracy.

    With ``lcm_steps`` (default: ``recipes.lora.lcm.RECOMMENDED_STEPS``; 0 skips it)
    a third pipeline joins the same alternating rounds: the LCM LoRA fused into
    the same preset, ``LCMScheduler`` at ``lcm_steps`` steps and guidance 1.
    ``speedup_lcm`` is fast at ``steps`` over fast + LCM; ``accuracy_lcm`` is
    judged on the same prompts and seeds as the other two, and so is the control
    ``accuracy_lcm_scheduler_without_lora`` (the plain model, ``LCMScheduler``,
    same steps, guidance 1): on the toy world it is already right (1.00; the LoRA
    0.986 in results/bench_cpu.json), because a toy prompt fixes the image, so the
    base model's one-shot clean-latent prediction is right; on real models it is a
    blur, and the LoRA is what works.
    """
    from recipes.lora.lcm import RECOMMENDED_STEPS
    from recipes.perf.fast import fast_preset
    from recipes.pipelines.generate import generate
    from recipes.pipelines.models import load_pipeline
    from recipes.toy import judge
    from recipes.toy.promptsets import prompt_items

    lcm_steps = RECOMMENDED_STEPS if lcm_steps is None else lcm_steps
    base = load_pipeline(model, device=device, dtype=torch.float32)
    fast = fast_preset(load_pipeline(model, device=device, dtype=torch.float32), compile=compile)
    prompts = [it["prompt"] for it in prompt_items(images, seed=7)]
    calls = {"baseline": lambda: _call(base, prompts, steps),
             "fast": lambda: _call(fast, prompts, steps)}
    if fast.fast_preset_call:  # the same compiled pipe with full guidance: what the cutoff adds
        calls["fast_full_cfg"] = lambda: _call(fast, prompts, steps, callback_on_step_end=None)
    pipes = {"baseline": (base, steps, 7.5), "fast": (fast, steps, 7.5)}
    if lcm_steps:
        lcm = lcm_fast_pipeline(model, device, compile)
        calls["fast_lcm"] = lambda: _call(lcm, prompts, lcm_steps, guidance=1.0)
        pipes["fast_lcm"] = (lcm, lcm_steps, 1.0)
    timings = bench.time_alternating(calls, repeats=repeats, warmup=1, device=device)
    memory = {}
    for name in ("baseline", "fast"):
        with bench.peak_memory(device) as mem:
            calls[name]()
        memory[name] = mem
    items = prompt_items(n_quality, seed=11)
    scores = {}
    for name, (pipe, k, guidance) in pipes.items():
        # batches of the timed size: a compiled pipe (dynamic=False) then never recompiles
        ims = generate(pipe, [it["prompt"] for it in items], 0, steps=k, guidance=guidance,
                       batch_size=images)
        scores[name] = judge.score(ims, [it["expect"] for it in items])["all_correct"]
    if lcm_steps:  # the control: LCMScheduler at the same steps without the LoRA (accuracy only)
        from recipes.pipelines.schedulers import set_scheduler

        control = set_scheduler(load_pipeline(model, device=device, dtype=torch.float32), "lcm")
        ims = generate(control, [it["prompt"] for it in items], 0, steps=lcm_steps, guidance=1.0,
                       batch_size=images)
        scores["lcm_no_lora"] = judge.score(ims, [it["expect"] for it in items])["all_correct"]
    b, f = timings["baseline"].median_s, timings["fast"].median_s
    out = _toy_record(images, steps, device, fast, timings, memory, scores, n_quality)
    if "fast_full_cfg" in timings:
        ff = timings["fast_full_cfg"].median_s
        out.update({"fast_full_cfg_s": round(ff, 4), "speedup_full_cfg": round(b / ff, 3),
                    "speedup_from_cfg_cutoff": round(ff / f, 3)})
    if lcm_steps:
        fl = timings["fast_lcm"].median_s
        out.update({"lcm": f"LCM LoRA fused + the same preset, LCMScheduler, {lcm_steps} steps, "
                           "guidance 1", "lcm_steps": lcm_steps, "fast_lcm_s": round(fl, 4),
                    "fast_lcm_timing": timings["fast_lcm"].as_dict(),
                    "speedup_lcm": round(f / fl, 3), "speedup_lcm_vs_baseline": round(b / fl, 3),
                    "accuracy_lcm": round(scores["fast_lcm"], 4),
                    "accuracy_lcm_scheduler_without_lora": round(scores["lcm_no_lora"], 4)})
    return out


def _toy_record(images, steps, device, fast, timings, memory, scores, n_quality) -> dict:
    b, f = timings["baseline"].median_s, timings["fast"].median_s
    return {"workload": f"toy pipeline, {images} images x {steps} steps, guidance 7.5",
            "device": device, "baseline": "diffusers default: float32, eager",
            "fast_preset": fast.fast_preset_steps,
            "baseline_s": round(b, 4), "fast_s": round(f, 4), "speedup": round(b / f, 3),
            "baseline_timing": timings["baseline"].as_dict(),
            "fast_timing": timings["fast"].as_dict(),
            "peak_mb_baseline": memory["baseline"].peak_mb, "peak_mb_fast": memory["fast"].peak_mb,
            "memory_method": memory["fast"].method,
            "accuracy_prompts": n_quality,
            "accuracy_baseline": round(scores["baseline"], 4),
            "accuracy_fast": round(scores["fast"], 4)}


# Stable Diffusion 1.5's architecture (the configs of its model folders), for timing only.
SD15_UNET = {"sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
             "block_out_channels": (320, 640, 1280, 1280),
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
             "cross_attention_dim": 768, "attention_head_dim": 8}
SD15_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 512,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "block_out_channels": (128, 256, 512, 512), "layers_per_block": 2,
            "scaling_factor": 0.18215}
SD15_TEXT = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
             "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
             "hidden_act": "quick_gelu", "projection_dim": 768}
# A shrunken copy with the same block structure, so tests can run the code path on a CPU.
TINY = {"unet": {"block_out_channels": (32, 32, 64, 64), "attention_head_dim": 2,
                 "norm_num_groups": 8, "sample_size": 8},
        "vae": {"block_out_channels": (8, 8, 16, 16), "layers_per_block": 1,
                "norm_num_groups": 4, "sample_size": 64},
        "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "projection_dim": 32}}


def sd15_pipeline(device: str = "cuda", dtype: torch.dtype = torch.float16, tiny: bool = False,
                  seed: int = 0):
    """A ``StableDiffusionPipeline`` with SD 1.5's architecture and random weights (timing only).

    The tokenizer is the toy model's (any ids below 49408 are valid input for the
    random embedding table). ``tiny=True`` shrinks every width for tests.
    """
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from recipes.course import quiet
    from recipes.toy.model import SCHEDULE, TOY_DIR

    quiet.install()
    unet_cfg, vae_cfg, text_cfg = dict(SD15_UNET), dict(SD15_VAE), dict(SD15_TEXT)
    if tiny:
        unet_cfg.update(TINY["unet"])
        vae_cfg.update(TINY["vae"])
        text_cfg.update(TINY["text"])
        unet_cfg["cross_attention_dim"] = text_cfg["hidden_size"]
    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text = CLIPTextModel(CLIPTextConfig(**text_cfg))
    schedule = {k: v for k, v in SCHEDULE.items() if k != "prediction_type"}
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=CLIPTokenizer.from_pretrained(TOY_DIR / "tokenizer"),
        unet=unet, scheduler=PNDMScheduler(**schedule, skip_prk_steps=True, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def unet_flops(pipe, height: int, batch: int = 2) -> int:
    """FLOPs of one UNet forward at ``height`` pixels (batch 2 = one CFG step), counted."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = getattr(pipe.unet, "_orig_mod", pipe.unet)
    side = height // pipe.vae_scale_factor
    dev, dt = unet.device, unet.dtype
    x = torch.randn(batch, unet.config.in_channels, side, side, device=dev, dtype=dt)
    ctx = torch.randn(batch, 77, unet.config.cross_attention_dim, device=dev, dtype=dt)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        unet(x, torch.tensor(500, device=dev), ctx)
    return int(counter.get_total_flops())


def matmul_rate(device: str, dtype: torch.dtype = torch.float16, n: int = 8192,
                repeats: int = 10) -> float:
    """Measured dense matmul throughput (FLOP/s) of ``device`` in ``dtype`` (median of repeats)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = bench.time_call(lambda: a @ b, repeats=repeats, warmup=3, device=device)
    return 2 * n ** 3 / timing.median_s


def loop_its(pipe, steps: int, height: int, repeats: int = 5, device: str = "cuda") -> dict:
    """Denoising-loop iterations per second: (steps − 1) / (T(steps) − T(1)).

    Subtracting a 1-step call removes the fixed costs (prompt encoding, VAE
    decode, setup), which is what a progress bar's it/s shows, without adding
    a device sync inside the loop.
    """
    prompt = ["a large red circle on the left, white background"]

    def run(n):
        return lambda: _call(pipe, prompt, n, height=height, width=height, output_type="latent")

    t = bench.time_alternating({"full": run(steps), "one": run(1)}, repeats=repeats, warmup=2,
                               device=device)
    loop = t["full"].median_s - t["one"].median_s
    return {"its": round((steps - 1) / loop, 2), "call_s": round(t["full"].median_s, 4),
            "first_call_s": t["full"].as_dict()["first_call_s"]}


def image_seconds(pipe, steps: int, guidance: float, height: int, repeats: int,
                  device: str) -> dict:
    """Seconds for one whole image (prompt encoding, ``steps`` UNet calls, VAE decode)."""
    prompt = ["a large red circle on the left, white background"]
    t = bench.time_call(lambda: pipe(prompt, num_inference_steps=steps, guidance_scale=guidance,
                                     height=height, width=height, output_type="np"),
                        repeats=repeats, warmup=2, device=device)
    return {"steps": steps, "guidance": guidance, **t.as_dict()}


def bench_sd15(device: str = "cuda", *, steps: int = 50, height: int = 512, repeats: int = 5,
               tiny: bool = False, compile: bool | None = None, lcm_steps: int = 4,
               partial=None, variants: tuple[str, ...] = ("plain", "fast")) -> dict:
    """Plain fp16 diffusers vs ``fast_preset`` on SD-1.5 shapes, random weights (timing only).

    For each of plain and fast: the denoising loop's it/s with CFG (batch 2)
    and its % of the FLOP floor, then whole-image seconds at ``steps`` steps with
    CFG against ``LCMScheduler`` at ``lcm_steps`` steps and guidance 1 (one
    UNet call per step, batch 1), the schedule an LCM LoRA is used with. The
    weights are random, so only the time is meaningful; a fused LCM LoRA adds
    no work (an unfused one adds its low-rank matmuls). ``partial`` (a
    callable) receives the result after each stage, so a run cut short still
    leaves what it measured.
    """
    from diffusers import LCMScheduler

    from recipes.perf.fast import fast_preset

    dtype = torch.float16 if torch.device(device).type == "cuda" else torch.float32
    rate = matmul_rate(device, dtype, n=1024 if tiny else 8192)
    out = {"workload": f"SD-1.5 architecture, RANDOM weights (timing only), {height}x{height}, "
                       f"batch 1, {steps} steps, CFG", "device": device,
           "matmul_tflops": round(rate / 1e12, 2), "floor_method": FLOOR_NOTE}
    for name in variants:
        t0 = time.perf_counter()
        pipe = sd15_pipeline(device, dtype, tiny=tiny)
        if name == "fast":  # the FLOP floor counts the whole UNet, CFG's batch of 2, every step
            fast_preset(pipe, compile=compile, cfg_cutoff=None, deep_cache=None)
            out["fast_preset"] = pipe.fast_preset_steps
        flops = unet_flops(pipe, height)
        r = loop_its(pipe, steps, height, repeats, device)
        floor_s = flops / rate
        out[name] = {**r, "unet_gflops_per_step": round(flops / 1e9, 1),
                     "pct_of_floor": round(100 * floor_s * r["its"], 1),
                     "setup_s": round(time.perf_counter() - t0, 1)}
        if partial:
            partial(out)
        if lcm_steps:
            full = image_seconds(pipe, steps, 7.5, height, repeats, device)
            pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
            lcm = image_seconds(pipe, lcm_steps, 1.0, height, repeats, device)
            out[name]["image_s"] = full
            out[name]["image_s_lcm"] = lcm
            out[name]["speedup_lcm"] = round(full["median_s"] / lcm["median_s"], 2)
            if partial:
                partial(out)
        del pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if len(variants) < 2:  # one side only (a short GPU lease): no ratio
        return out
    out["plain_its"], out["fast_its"] = out["plain"]["its"], out["fast"]["its"]
    out["speedup"] = round(out["fast_its"] / out["plain_its"], 3)
    if lcm_steps:
        out["lcm_steps"] = lcm_steps
        out["speedup_lcm"] = out["fast"]["speedup_lcm"]
    return out
