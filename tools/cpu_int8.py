"""Does static int8 (PT2E + X86InductorQuantizer) make the toy UNet faster on a CPU? (issue 17)

Times one UNet forward (fp32, batch 8 = 4 images with classifier-free guidance,
16x16 latents) in interleaved rounds: eager, ``torch.compile`` as ``fast_preset``
compiles it on a CPU without bf16 (channels-last, frozen weights), and the same
compile of a PT2E int8 model (``torchao``: ``prepare_pt2e`` with the
X86InductorQuantizer's default static config, calibrated on UNet inputs recorded
from real pipeline calls, ``convert_pt2e``). Reports the speed-ups and how far the
int8 output is from fp32. Run it on an AVX2-only CPU, or emulate one:

    tools/as_avx2.sh .venv/bin/python tools/cpu_int8.py      # needs: pip install torchao
"""

from __future__ import annotations

import argparse

import torch

from recipes import bench
from recipes.course import quiet
from recipes.perf.fast import _UNetForExport as _Forward  # (x, t, context) -> UNet output
from recipes.perf.fast import cpu_compile_options, frozen
from recipes.pipelines.models import load_pipeline


def recorded_inputs(pipe, n_calls: int = 16) -> list[tuple]:
    """UNet inputs seen while the pipeline draws a few batches (for int8 calibration)."""
    from recipes.pipelines.generate import generate
    from recipes.toy.promptsets import prompt_items

    seen = []
    unet = pipe.unet

    def hook(module, args, kwargs):
        sample, t = args[0], args[1]
        seen.append((sample.detach().clone(), torch.as_tensor(t).clone(),
                     kwargs["encoder_hidden_states"].detach().clone()))

    handle = unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        prompts = [it["prompt"] for it in prompt_items(8, seed=99)]
        generate(pipe, prompts, 0, steps=8, batch_size=4)
    finally:
        handle.remove()
    return seen[:: max(1, len(seen) // n_calls)]


def main() -> None:
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    quiet.install()
    quiet.compile_output()
    print("ATen CPU capability:", torch.backends.cpu.get_cpu_capability(),
          "| oneDNN bf16:", torch.ops.mkldnn._is_mkldnn_bf16_supported())
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    calib = recorded_inputs(pipe)
    x, t, context = calib[len(calib) // 2]
    model = _Forward(pipe.unet).eval()
    with torch.no_grad():
        want = model(x, t, context)
        exported = torch.export.export(model, (x, t, context)).module()
        quantizer = X86InductorQuantizer()
        quantizer.set_global(get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(exported, quantizer)
        for inputs in calib:
            prepared(*inputs)
        int8 = convert_pt2e(prepared)
    opts = cpu_compile_options()
    opts.pop("guard_filter_fn")
    cl = _Forward(load_pipeline("toy", device="cpu", dtype=torch.float32).unet).eval()
    cl.to(memory_format=torch.channels_last)
    fp32_c = frozen(torch.compile(cl, dynamic=False, options=opts))
    int8_c = frozen(torch.compile(int8, dynamic=False, options=opts))
    fns = {"fp32 eager": lambda: model(x, t, context),
           "fp32 compiled (fast_preset without bf16)": lambda: fp32_c(x, t, context),
           "int8 PT2E compiled": lambda: int8_c(x, t, context)}
    with torch.no_grad():
        errors = {name: float((fn() - want).abs().max()) for name, fn in fns.items()}
        timings = bench.time_alternating(fns, repeats=args.repeats, warmup=2)
    base = timings["fp32 eager"].median_s
    for name, timing in timings.items():
        print(f"{name:45s} {timing.median_s * 1e3:7.1f} ms  x{base / timing.median_s:4.2f}  "
              f"max |out - fp32| {errors[name]:.3f}")


if __name__ == "__main__":
    main()
