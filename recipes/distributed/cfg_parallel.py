"""CFG parallelism by hand: the two halves of one classifier-free-guidance step on two ranks.

A Stable Diffusion pipeline runs the UNet on a batch of two each step: the
unconditional and the conditional latent. Here rank 0 runs the unconditional
half and rank 1 the conditional half, ``all_gather`` swaps the two noise
predictions each step, and both ranks combine them and take the same scheduler
step, so their latents stay equal. Launch with
``python -m torch.distributed.run --nproc_per_node 2 -m recipes.distributed.cfg_parallel
--out DIR`` (gloo on CPU, NCCL on CUDA); rank 0 writes ``cfg_parallel.json`` and
the images, beside the ordinary pipeline's image for the same seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.distributed as dist


@torch.no_grad()
def cfg_parallel_image(pipe, prompt: str, seed: int, *, steps: int, guidance: float,
                       size: int = 64, timing: dict | None = None):
    """One image with the CFG halves split over a 2-rank process group (uncond on rank 0).

    Every rank returns the same PIL image. ``timing`` (a dict) collects the
    seconds spent in ``all_gather`` under the key ``"gather_s"``.
    """
    from recipes.pipelines.generate import generators

    rank, world = dist.get_rank(), dist.get_world_size()
    if world != 2:
        raise ValueError(f"CFG parallel needs exactly 2 ranks, got {world}")
    device = pipe.device
    cond, uncond = pipe.encode_prompt(prompt, device, 1, True)
    mine = uncond if rank == 0 else cond  # the pipeline's order: torch.cat([uncond, cond])
    generator = generators([seed], device)[0]
    scheduler = pipe.scheduler
    scheduler.set_timesteps(steps, device=device)
    latents = pipe.prepare_latents(1, pipe.unet.config.in_channels, size, size, cond.dtype,
                                   device, generator)
    extra = pipe.prepare_extra_step_kwargs(generator, 0.0)
    halves = [torch.empty_like(latents) for _ in range(world)]
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(latents, t)
        eps = pipe.unet(x, t, encoder_hidden_states=mine, return_dict=False)[0].contiguous()
        t0 = time.perf_counter()
        dist.all_gather(halves, eps)
        if timing is not None:
            timing["gather_s"] = timing.get("gather_s", 0.0) + time.perf_counter() - t0
        noise = halves[0] + guidance * (halves[1] - halves[0])
        latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
    image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    return pipe.image_processor.postprocess(image, output_type="pil")[0]


def _pipeline_image(pipe, prompt: str, seed: int, steps: int, guidance: float, size: int):
    from recipes.pipelines.generate import generators

    return pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, height=size,
                width=size, generator=generators([seed], pipe.device)[0]).images[0]


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: time CFG-parallel against the pipeline, rank 0 writes the JSON."""
    import numpy as np

    from recipes.pipelines.models import load_pipeline

    p = argparse.ArgumentParser(description="2-rank CFG-parallel check and timing")
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="toy")
    p.add_argument("--prompt", default="a large red circle on the left")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        rank = dist.get_rank()
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
        torch.set_num_threads(1)
        pipe = load_pipeline(args.model, device=device)
        run = dict(steps=args.steps, guidance=args.guidance)
        rounds: dict[str, list[float]] = {"cfg_parallel_2x1": [], "pipeline_1x1": []}
        gather = []
        for r in range(args.repeats + 1):  # round 0 warms up and is not counted
            dist.barrier()
            timing: dict = {}
            t0 = time.perf_counter()
            split = cfg_parallel_image(pipe, args.prompt, args.seed, timing=timing, **run)
            dist.barrier()
            if r:
                rounds["cfg_parallel_2x1"].append(time.perf_counter() - t0)
                gather.append(timing["gather_s"])
            if rank == 0:  # the ordinary pipeline on rank 0 alone, 1 thread (rank 1 waits)
                t0 = time.perf_counter()
                whole = _pipeline_image(pipe, args.prompt, args.seed, args.steps,
                                        args.guidance, 64)
                if r:
                    rounds["pipeline_1x1"].append(time.perf_counter() - t0)
            dist.barrier()
        if rank == 0:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            a, b = np.asarray(split).astype(int), np.asarray(whole).astype(int)
            split.save(out / "cfg_parallel.png")
            whole.save(out / "pipeline.png")
            result = {"max_pixel_diff": int(np.abs(a - b).max()),
                      "share_pixels_differing": round(float((a != b).mean()), 5),
                      "steps": args.steps, "repeats": args.repeats, "device": device,
                      "backend": dist.get_backend(),
                      "bytes_sent_per_rank_per_step": split_bytes(pipe),
                      "median_s": {k: round(statistics.median(v), 4) for k, v in rounds.items()},
                      "rounds_s": {k: [round(x, 4) for x in v] for k, v in rounds.items()},
                      "gather_s_per_image_median": round(statistics.median(gather), 4)}
            (out / "cfg_parallel.json").write_text(json.dumps(result), encoding="utf-8")
            print(json.dumps(result), flush=True)
    finally:
        dist.destroy_process_group()
    return 0


def split_bytes(pipe, size: int = 64) -> int:
    """Bytes of one noise prediction (one latent) at ``size`` px: what each rank sends per step."""
    side = size // pipe.vae_scale_factor
    item = torch.empty((), dtype=pipe.unet.dtype).element_size()
    return pipe.unet.config.in_channels * side * side * item


if __name__ == "__main__":
    raise SystemExit(main())
