"""Which torch.compile settings make the toy UNet fastest on this CPU? (behind fast_preset)

Builds the CPU compile recipe of ``recipes.fast.fast_preset`` one setting at a
time on the toy UNet (bf16, batch 8 = 4 images with classifier-free guidance,
16x16 latents) and times every variant in interleaved rounds, so a noisy
machine slows all of them alike. Each compile costs about a minute on 2 cores.

Run: ``.venv/bin/python tools/cpu_compile.py [--repeats 40] [--autotune]``.
``--text-encoder`` instead times the toy text encoder (fp32, 4 prompts + 4 empty
ones, as one guided call encodes them) eager against compiled with the same
options: why ``fast_preset`` leaves it eager.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from diffusers.models.attention_processor import AttnProcessor

from recipes import bench
from recipes.course import quiet
from recipes.perf.fast import cpu_compile_options, frozen
from recipes.pipelines.models import load_pipeline

# name: (classic attention?, freezing?, torch.compile options); None = eager.
# The last row is exactly what fast_preset ships (cpu_compile_options()).
STEPS = {
    "bf16 eager": (False, False, None),
    "+ torch.compile (default)": (False, False, {}),
    "+ classic attention": (True, False, {}),
    "+ frozen weights": (True, True, {}),
    "+ C++ wrapper": (True, True, {"cpp_wrapper": True}),
    "+ concat linears, weight-identity guards (fast_preset)": (True, True, cpu_compile_options()),
}
AUTOTUNE = ("+ max-autotune", (True, True, {**cpu_compile_options(), "max_autotune": True,
                                            "max_autotune_report_choices_stats": False}))


def _sample(unet, x, t, context):
    return unet(x, t, context).sample


def text_encoder(repeats: int) -> None:
    from recipes.toy.promptsets import prompt_items

    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    prompts = [""] * 4 + [it["prompt"] for it in prompt_items(4, seed=7)]
    ids = pipe.tokenizer(prompts, padding="max_length", truncation=True, return_tensors="pt",
                         max_length=pipe.tokenizer.model_max_length).input_ids
    eager = pipe.text_encoder
    compiled = frozen(torch.compile(
        load_pipeline("toy", device="cpu", dtype=torch.float32).text_encoder.forward,
        dynamic=False, options=cpu_compile_options()))
    with torch.no_grad():
        start = time.perf_counter()
        compiled(ids)
        first = time.perf_counter() - start
        timings = bench.time_alternating({"eager": lambda: eager(ids),
                                          "compiled": lambda: compiled(ids)},
                                         repeats=repeats, warmup=3)
    print(f"text encoder, 8 sequences: first compiled call {first:.1f} s; median of {repeats} "
          "interleaved rounds: " + ", ".join(f"{k} {v.median_s * 1e3:.2f} ms"
                                              for k, v in timings.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--autotune", action="store_true", help="also try max-autotune (+1-2 min)")
    parser.add_argument("--text-encoder", action="store_true",
                        help="time the text encoder eager vs compiled instead")
    args = parser.parse_args()
    quiet.install()
    quiet.compile_output()
    if args.text_encoder:
        text_encoder(args.repeats)
        return
    steps = dict(STEPS)
    if args.autotune:
        steps[AUTOTUNE[0]] = AUTOTUNE[1]

    x = torch.randn(8, 4, 16, 16)
    context = torch.randn(8, 77, 128)
    t = torch.tensor(500)
    ref = load_pipeline("toy", device="cpu", dtype=torch.float32).unet
    fns = {"fp32 eager (diffusers default)": lambda: ref(x, t, context).sample}
    with torch.no_grad():
        want = ref(x, t, context).sample
        for name, (classic, freeze, options) in steps.items():
            unet = load_pipeline("toy", device="cpu", dtype=torch.bfloat16).unet
            if classic:
                unet.set_attn_processor(AttnProcessor())
            if options is not None:
                if freeze:
                    # options alone do not freeze (checked below), but they make this
                    # compile distinct: otherwise Dynamo reuses the previous variant's
                    # unfrozen graph for a new UNet of the same shape
                    options = {**options, "freezing": True}
                unet = torch.compile(unet, fullgraph=True, dynamic=False, options=options)
                if freeze:
                    unet.forward = frozen(unet.forward)
            fn = functools.partial(_sample, unet, x.bfloat16(), t, context.bfloat16())
            start = time.perf_counter()
            diff = (fn().float() - want).abs().max().item()
            print(f"{name}: first call {time.perf_counter() - start:.1f} s, "
                  f"max |diff| vs fp32 {diff:.3f}", flush=True)
            fns[name] = fn
        # a check behind fast.frozen: freezing passed in options does not freeze
        probe = load_pipeline("toy", device="cpu", dtype=torch.bfloat16).unet
        compiled = torch.compile(probe, fullgraph=True, dynamic=False, options={"freezing": True})
        before = compiled(x.bfloat16(), t, context.bfloat16()).sample
        probe.conv_out.bias += 1
        seen = not torch.equal(compiled(x.bfloat16(), t, context.bfloat16()).sample, before)
        print(f"options={{'freezing': True}}: later weight change seen = {seen} "
              f"({'NOT frozen' if seen else 'frozen'})")
        timings = bench.time_alternating(fns, repeats=args.repeats, warmup=3)
    base = timings["fp32 eager (diffusers default)"].median_s
    print(f"\nUNet forward, median of {args.repeats} interleaved rounds:")
    for name, timing in timings.items():
        print(f"{name:>56}: {timing.median_s * 1e3:6.2f} ms  x{base / timing.median_s:.2f}")


if __name__ == "__main__":
    main()
