"""``fast_preset(pipe)``: the fastest combination measured in notebook 03, for the pipe's device.

What it applies, and why (each step is measured on its own in
``03_hardware_optimization.ipynb``; ``python -m recipes bench`` measures the sum):

* CPU: bfloat16 weights when the CPU has native bf16 instructions (AVX512-BF16
  or AMX; oneDNN then runs convolutions and matmuls at up to twice the fp32
  rate) and channels-last memory layout for the convolutional UNet and VAE.
  float16 is never used on a CPU: most of its kernels are emulated.
* CUDA: float16 weights, channels-last, fused QKV projections, TF32 for any fp32
  matmul left, cuDNN autotuning, and (``compile=True``, the default there)
  ``torch.compile(mode="max-autotune")``, which also captures CUDA graphs and so
  removes the per-kernel launch cost that dominates a batch-1 UNet step.

The pipeline is changed in place and returned; ``pipe.fast_preset_steps`` lists
what was applied, so a benchmark can print it beside its numbers.
"""

from __future__ import annotations

import torch

from . import quiet


def cpu_bf16_is_fast() -> bool:
    """True when this CPU runs bfloat16 convolutions/matmuls natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _modules(pipe):
    return [m for m in (getattr(pipe, n, None) for n in ("unet", "vae", "text_encoder"))
            if isinstance(m, torch.nn.Module)]


def fast_preset(pipe, *, compile: bool | None = None, dtype: torch.dtype | None = None):
    """Apply the best measured speed settings for ``pipe.device`` in place and return ``pipe``.

    ``dtype`` overrides the automatic choice (bf16 on a CPU with native bf16,
    fp16 on CUDA, else unchanged). ``compile`` defaults to True on CUDA and
    False on CPU, where inductor's first call costs minutes on 2 cores for a
    gain measured in notebook 03. Quality is checked by the benchmark (judge
    accuracy against the plain pipeline on the same prompts and seeds).
    """
    quiet.install()
    kind = pipe.device.type
    steps: list[str] = []
    if dtype is None:
        if kind == "cuda":
            dtype = torch.float16
        elif kind == "cpu" and cpu_bf16_is_fast():
            dtype = torch.bfloat16
    if dtype is not None and dtype != pipe.unet.dtype:
        for module in _modules(pipe):
            module.to(dtype=dtype)
        steps.append(f"weights in {str(dtype).replace('torch.', '')}")
    for name in ("unet", "vae"):
        getattr(pipe, name).to(memory_format=torch.channels_last)
    steps.append("channels_last UNet and VAE")
    if kind == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        steps.append("TF32 + cudnn.benchmark")
        pipe.unet.fuse_qkv_projections()
        steps.append("fused QKV projections")
    if compile if compile is not None else kind == "cuda":
        mode = "max-autotune" if kind == "cuda" else None
        pipe.unet = torch.compile(pipe.unet, mode=mode, fullgraph=True)
        pipe.vae.decode = torch.compile(pipe.vae.decode, mode=mode)
        steps.append(f"torch.compile UNet + VAE decode ({mode or 'default'} mode)")
    pipe.fast_preset_steps = steps
    return pipe
