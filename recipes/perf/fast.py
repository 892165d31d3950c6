"""``fast_preset(pipe)``: the fastest combination measured in notebook 03, for the pipe's device.

What it applies, and why (each step is measured on its own in
``03_hardware_optimization.ipynb``; ``python -m recipes bench`` measures the sum):

* CPU: bfloat16 weights when the CPU has native bf16 instructions (AVX512-BF16
  or AMX; oneDNN then runs convolutions and matmuls faster than fp32), else
  channels-last memory layout for the fp32 convolutions. Not both: on the
  course's CPU bf16 + channels-last was slower than bf16 alone in four runs of
  ``tools/cpu_layouts.py`` (7 alternating repeats; medians 0.73 vs 0.63,
  1.11 vs 0.94, 1.10 vs 1.04, 1.17 vs 1.13 s on a noisy shared machine).
  float16 is never used on a CPU: most of its kernels are emulated.
  ``torch.compile`` only when asked (``compile=True``), and then with the
  inductor settings that each measured faster on the toy UNet (bf16, batch 8;
  ``tools/cpu_compile.py`` compares them): weight freezing (weights become
  constants, prepacked for oneDNN; the flag is read while Dynamo traces, so it
  is switched on around each call rather than passed in ``options``), the C++
  wrapper (no Python call per kernel), one matmul for linears sharing an input
  (q/k/v), Dynamo guards only on the identity of each weight (not on every
  module attribute, which Dynamo re-checks on each UNet call), and, for short
  attention sequences, the classic attention processor, whose
  matmul-softmax-matmul inductor fuses (flash SDPA is kept for long ones).
  One run of the tool (UNet forward vs fp32 eager, median of 30 interleaved
  rounds): bf16 1.12x, + compile 1.50x, + classic attention 1.61x, + frozen
  1.77x, + C++ wrapper 2.01x, + concat linears and identity guards 2.08x.
  max-autotune (``--autotune``) gained ~2 % in one run at over three times the
  first-call time (172 vs 50 s), so it is not used. Frozen weights mean: load
  LoRA weights, fuse, or change attention processors *before* ``fast_preset``;
  changes made after it are not seen by the compiled code.
* CPUs without native bf16 (AVX2 only: most laptops and many cloud VMs) get
  fp32 + channels-last + the same compile, and that alone is worth about 1.5x,
  not 2x (with the guidance cutoff below 1.91x, with DeepCache below too
  2.92x and 3.02x in two runs under the emulation, judge accuracy 0.993 ->
  0.993 on 144 prompts, ``results/bench_cpu_avx2.json``, 2026-12-05):
  ``python -m recipes bench --device cpu`` measured 1.46x on a real AVX2-only
  VM (issue 17), and 1.49x (0.882 -> 0.591 s) and 1.69x (1.175 -> 0.697 s,
  ``results/bench_cpu_avx2.json``) in two runs under ``tools/as_avx2.sh``,
  which caps oneDNN and ATen at AVX2 on this AVX-512 machine. Tried there and
  not adopted: static int8 (PT2E with torchao's ``X86InductorQuantizer``,
  calibrated on real UNet inputs; ``tools/cpu_int8.py``): UNet forward 1.50x
  against 1.44x for the fp32 compile, with a max output error of 0.68 - not
  worth a dependency and a calibration pass. What pays on such a CPU is fewer
  steps: the LCM LoRA (``recipes.lora.lcm``) at 2 steps ran 10.1x and 10.0x
  faster than the preset (full guidance) at 25 steps in the same emulated runs,
  7.7x faster than the preset with the guidance cutoff; with the cutoff and
  DeepCache in the preset too, 6.1x on both CPU kinds (2026-12-05, the LCM
  LoRA distilled with a target network: judge accuracy 0.986 vs 0.993 for
  the preset at 25 steps; the plain model with ``LCMScheduler`` at 2 steps
  scores 1.00 without the LoRA, see ``recipes.perf.benchmarks.bench_toy``).
* CUDA: float16 weights, channels-last, fused QKV projections, TF32 for any fp32
  matmul left, cuDNN autotuning, and (``compile=True``, the default there)
  ``torch.compile`` in its default mode. Not ``mode="max-autotune"``: on an
  H200 (torch 2.11, SD-1.5 shapes, ``tools/gpu_bench.sh``) its GEMM and
  convolution autotuning had not finished after more than 6 minutes of the
  first call, and the CUDA graphs it captures overwrite each UNet output on the
  next call, while multistep schedulers (PNDM, DPM-Solver++) keep earlier
  outputs; torch then refuses to read them.

* Every device: classifier-free guidance stops after ``CFG_CUTOFF`` (40 %) of
  the steps (``CFGCutoff``, a ``callback_on_step_end``): from then on the UNet
  runs on the prompts only, half the batch. This is the one part that changes
  the algorithm, not just the arithmetic; the judge checks it
  (``tools/cfg_cutoff.py``; toy, 96 prompts, 25 steps, fp32: all-correct 1.00
  without the cutoff, 1.00 at 60 %, 0.99 at 40 %, 30 %, 20 % and 10 %; on 300
  prompts 0.993 without, 0.997 at 40 %). 40 % is not the smallest share the toy allows: a
  toy prompt fixes the image, real prompts need guidance longer, and so does a
  weakly learned concept - the star LoRA of 2026-12-04 (``recipes.lora``) drew
  0.79 of its 100 prompts right with full guidance, 0.65 with the cutoff at 40 %
  and 0.72 at 20 % (``tools/cfg_cutoff.py --lora star``); the star reshipped on
  2026-12-05 goes the other way: 0.875 / 0.948 / 0.948 on 96 of them. The
  direction depends on the adapter, so pass ``cfg_cutoff=None`` for adapters
  and judge your own before cutting. What it buys: in
  ``python -m recipes bench --device cpu`` on a 2-core Xeon with AMX (bf16
  path) 2.31x -> 2.62x, and under ``tools/as_avx2.sh`` (fp32 path) 1.54x ->
  1.91x, the same compiled pipe timed with and without the cutoff in the same
  rounds (``speedup_full_cfg``); judge accuracy 1.00 -> 0.98 (one of 48
  prompts) in both runs. With DeepCache in the preset (below) the cutoff adds
  less: 3.63x -> 3.94x and 3.58x -> 3.89x (bf16, two runs) and 2.43x -> 2.92x
  and 2.52x -> 3.02x (fp32 under the emulation; 144 prompts, accuracy 0.993
  for the plain pipe and the preset alike).
  At 25 steps 11 steps keep guidance, so the UNet work
  falls to 72 %, but the time less: at batch 4 the compiled toy UNet takes 64 %
  of its batch-8 time (10.8 vs 16.8 ms under the AVX2 emulation,
  ``tools/cfg_cutoff.py --n 0 --timing``), and the text encoder, VAE and
  scheduler do not shrink. A preset cannot change
  how you call the pipe, so it hands you the call arguments:
  ``pipe(prompt, **pipe.fast_preset_call)`` (``recipes.pipelines.generate.generate``
  and the benchmark add them for you). ``cfg_cutoff=None`` keeps full guidance.

* CPU (on CUDA only when asked for: not measured there yet): DeepCache
  (``DEEP_CACHE`` = 2, ``recipes.perf.deepcache``): the
  whole UNet runs on every second step only; the steps between run its
  outermost level (``conv_in``, first down block, last up block, ``conv_out``)
  on the deep features cached from the step before. Like the cutoff it changes
  the output, so the judge checks it (``tools/deepcache.py``, toy fp32, 25
  steps, with the 40 % cutoff): interval 1/2/3 all-correct 0.997/0.997/1.00 on
  300 prompts (interval 2 lost and gained none); the star LoRA of 2026-12-04 (full
  guidance, 100 prompts) 0.79/0.80/0.85. Time per compiled pipeline call under
  ``tools/as_avx2.sh`` (4 images, 25 steps, 10 interleaved rounds): 372 ms
  without, 249 ms at interval 2 (1.49x), 204 ms at 3 (1.82x). The preset
  takes 2, the mildest one: the toy cannot show where a real model starts to
  lose detail (look at your own prompts before going to 3). It is what lifts
  the fp32 (AVX2) path past 2x. Not applied to ControlNet pipelines
  (their residuals go into every level) or UNets with extra conditioning.
  The text encoder is not compiled: under the emulation it takes 6.2 ms per
  call of 8 sequences eager and 4.4 ms compiled, under 1 % of a call, for 7.8 s
  more of first-call compiling (``tools/cpu_compile.py --text-encoder``).

The pipeline is changed in place and returned; ``pipe.fast_preset_steps`` lists
what was applied, so a benchmark can print it beside its numbers.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from diffusers.callbacks import SDCFGCutoffCallback

from recipes.course import quiet


def cpu_bf16_is_fast() -> bool:
    """True when this CPU runs bfloat16 convolutions/matmuls natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# Above this many query tokens in the UNet's first attention layer, SDPA's flash kernel (no
# L x L score matrix) is kept; below it the classic processor measured faster once compiled.
MATH_ATTENTION_MAX_TOKENS = 1024


def attention_tokens(unet) -> int:
    """Query tokens of the UNet's highest-resolution attention layer at its native sample size."""
    size = unet.config.sample_size
    size = size[0] * size[1] if isinstance(size, (tuple, list)) else size * size
    for block in unet.config.down_block_types:
        if "CrossAttn" in block:
            return size
        size //= 4  # each down block halves both sides
    return size


def weight_identity_guards(entries) -> list[bool]:
    """A Dynamo ``guard_filter_fn``: keep every guard except those on nn-module attributes,
    but keep the identity check (``ID_MATCH``) of each frozen weight.

    torch's own ``skip_guard_on_all_nn_modules_unsafe`` drops those too; with
    frozen weights a second model of the same class then silently reuses the
    first one's weights (``tests/test_fast.py`` checks that this filter does not).
    """
    return [not entry.orig_guard.source.is_unspecialized_nn_module()
            or entry.guard_type == "ID_MATCH" for entry in entries]


def cpu_compile_options() -> dict:
    """Inductor options ``fast_preset(compile=True)`` passes to ``torch.compile`` on a CPU."""
    return {"cpp_wrapper": True, "cpp.enable_concat_linear": True,
            "guard_filter_fn": weight_identity_guards}


def frozen(fn):
    """Call ``fn`` (a ``torch.compile``-d callable) with inductor weight freezing switched on.

    Freezing is read by Dynamo while it traces, before ``options`` apply, so
    ``torch.compile(options={"freezing": True})`` silently does not freeze.
    Patching the flag around every call keeps it local to this callable
    (other ``torch.compile`` users in the process are unaffected).
    """
    import functools

    import torch._inductor.config as inductor_config

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with inductor_config.patch(freezing=True):
            return fn(*args, **kwargs)

    return call


def _modules(pipe):
    return [m for m in (getattr(pipe, n, None) for n in ("unet", "vae", "text_encoder"))
            if isinstance(m, torch.nn.Module)]


# Share of the steps that keep classifier-free guidance in the preset (see the docstring above).
CFG_CUTOFF = 0.4


class CFGCutoff(SDCFGCutoffCallback):
    """Stop classifier-free guidance after a share of the steps, for a batch of prompts.

    Pass it as ``pipe(..., callback_on_step_end=CFGCutoff(cutoff_step_ratio=0.4))``.
    After the cutoff step the pipeline keeps only the conditional prompt
    embeddings and sets its guidance scale to 0, so every later step calls the
    UNet once per image instead of twice. diffusers' own ``SDCFGCutoffCallback``
    keeps ``prompt_embeds[-1:]`` - the last prompt's embedding only, right for a
    single prompt; with two or more prompts the next UNet call fails ("The size of
    tensor a (128) must match the size of tensor b (64)", diffusers 0.42.1). This
    one keeps the conditional half, ``chunk(2)[1]``, and does nothing when the call
    has no guidance to stop (guidance_scale <= 1). Text-to-image pipelines only:
    a ControlNet pipeline doubles its control image too (use diffusers'
    ``SDXLControlnetCFGCutoffCallback`` pattern there).
    """

    def callback_fn(self, pipeline, step_index, timestep, callback_kwargs):
        index = self.config.cutoff_step_index
        if index is None:
            index = int(pipeline.num_timesteps * self.config.cutoff_step_ratio)
        if step_index == index and pipeline.do_classifier_free_guidance:
            callback_kwargs["prompt_embeds"] = callback_kwargs["prompt_embeds"].chunk(2)[1]
            pipeline._guidance_scale = 0.0  # do_classifier_free_guidance is now False
        return callback_kwargs


def cfg_cutoff_fits(pipe) -> bool:
    """True when ``prompt_embeds`` is the only guidance-doubled tensor (SD text-to-image)."""
    return ("prompt_embeds" in getattr(pipe, "_callback_tensor_inputs", ())
            and getattr(pipe, "controlnet", None) is None)


# DeepCache interval in the preset (None: off; see the docstring above).
DEEP_CACHE: int | None = 2


def deep_cache_interval(deep_cache: int | str | None, device_type: str) -> int | None:
    """The DeepCache interval ``fast_preset`` applies: ``"auto"`` is ``DEEP_CACHE`` on a CPU
    and None (off) elsewhere - measured on CPUs only so far; a number is taken as given."""
    if deep_cache == "auto":
        return DEEP_CACHE if device_type == "cpu" else None
    if deep_cache is not None and not isinstance(deep_cache, int):
        raise ValueError(f"deep_cache={deep_cache!r}: pass an interval (2, 3, ...), None or "
                         "'auto'")
    return deep_cache


def deep_cache_fits(pipe) -> bool:
    """True for a text-to-image pipe whose UNet ``DeepCacheUNet`` can wrap (no ControlNet)."""
    from recipes.perf.deepcache import check_supported

    if getattr(pipe, "controlnet", None) is not None:
        return False
    try:
        check_supported(pipe.unet)
    except ValueError:
        return False
    return True


def fast_preset(pipe, *, compile: bool | None = None, dtype: torch.dtype | None = None,
                cfg_cutoff: float | None = CFG_CUTOFF, deep_cache: int | str | None = "auto"):
    """Apply the best measured speed settings for ``pipe.device`` in place and return ``pipe``.

    ``dtype`` overrides the automatic choice (bf16 on a CPU with native bf16,
    fp16 on CUDA, else unchanged). ``compile`` defaults to True on CUDA and
    False on CPU: there inductor's first call costs about a minute on 2 cores
    with a cold cache, worth it for a long batch job but not for a few images
    (``python -m recipes bench`` compiles and reports that cost separately).
    ``cfg_cutoff`` is the share of steps that keep classifier-free guidance
    (``pipe.fast_preset_call`` then holds the ``CFGCutoff`` callback to pass
    to each call; ``None``: full guidance, ``pipe.fast_preset_call`` empty).
    ``deep_cache`` (an interval >= 2) wraps the UNet in
    ``recipes.perf.deepcache.DeepCacheUNet``: the deep levels run on every
    ``deep_cache``-th step only (``None`` or 1: every step; text-to-image UNets only).
    ``"auto"``: ``DEEP_CACHE`` on a CPU, where it was measured, and off on CUDA,
    where it has not been yet (pass ``deep_cache=2`` to try it there).
    Quality is checked by the benchmark (judge
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
    if kind != "cpu" or pipe.unet.dtype == torch.float32:
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
    cached = None
    deep_cache = deep_cache_interval(deep_cache, kind)
    if deep_cache is not None and deep_cache > 1 and deep_cache_fits(pipe):
        from recipes.perf.deepcache import DeepCacheUNet

        cached = pipe.unet = DeepCacheUNet(pipe.unet, deep_cache)
        steps.append(f"DeepCache: deep UNet levels every {deep_cache} steps")
    if compile if compile is not None else kind == "cuda":
        if kind == "cuda":
            # default mode, not "max-autotune": see the module docstring
            if cached is not None:
                cached.full = torch.compile(cached.full, fullgraph=True)
                cached.shallow = torch.compile(cached.shallow, fullgraph=True)
            else:
                pipe.unet = torch.compile(pipe.unet, fullgraph=True)
            pipe.vae.decode = torch.compile(pipe.vae.decode)
            steps.append("torch.compile UNet + VAE decode (default mode)")
        else:
            core = cached.unet if cached is not None else pipe.unet
            if attention_tokens(core) <= MATH_ATTENTION_MAX_TOKENS:
                from diffusers.models.attention_processor import AttnProcessor

                core.set_attn_processor(AttnProcessor())
                steps.append(f"classic attention (≤ {MATH_ATTENTION_MAX_TOKENS} tokens: "
                             "inductor fuses it)")
            quiet.compile_output()
            options = cpu_compile_options()
            if cached is not None:
                for name in ("full", "shallow"):
                    setattr(cached, name, frozen(torch.compile(
                        getattr(cached, name), fullgraph=True, dynamic=False, options=options)))
            else:
                unet = torch.compile(pipe.unet, fullgraph=True, dynamic=False, options=options)
                unet.forward = frozen(unet.forward)
                pipe.unet = unet
            pipe.vae.decode = frozen(torch.compile(pipe.vae.decode, dynamic=False,
                                                   options=options))
            steps.append("torch.compile UNet + VAE decode (frozen weights, C++ wrapper, "
                         "concatenated linears, weight-identity guards)")
    pipe.fast_preset_call = {}
    if cfg_cutoff is not None and cfg_cutoff < 1 and cfg_cutoff_fits(pipe):
        pipe.fast_preset_call = {"callback_on_step_end": CFGCutoff(cutoff_step_ratio=cfg_cutoff)}
        steps.append(f"guidance stops after {cfg_cutoff:.0%} of the steps "
                     "(pass **pipe.fast_preset_call)")
    pipe.fast_preset_steps = steps
    return pipe


# --------------------------------------------------------------------------------------------
# Options measured in notebook 03 that fast_preset does not apply (each has a reason there).


def module_counts(module: torch.nn.Module) -> dict[str, int]:
    """How many submodules of each class ``module`` holds (to see what quantisation changed)."""
    counts: dict[str, int] = {}
    for sub in module.modules():
        kind = type(sub)
        # torch.ao's dynamic int8 Linear is also called "Linear": tell them apart
        name = ("DynamicQuantizedLinear" if kind.__module__.startswith("torch.ao.nn.quantized")
                and kind.__name__ == "Linear" else kind.__name__)
        counts[name] = counts.get(name, 0) + 1
    return counts


def weights_mb(*modules: torch.nn.Module) -> float:
    """Bytes of every tensor in the modules' state dicts (packed int8 weights included), in MB."""
    total = 0
    for module in modules:
        total += getattr(module, "model_bytes", 0)  # an OrtUNet's weights live in ONNX Runtime
        for value in module.state_dict().values():
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()
            elif isinstance(value, tuple):  # quantized Linear: (packed weight, bias)
                total += sum(v.numel() * v.element_size() for v in value
                             if isinstance(v, torch.Tensor))
    return round(total / 2**20, 2)


def int8_dynamic(module: torch.nn.Module) -> torch.nn.Module:
    """``torch.ao.quantization.quantize_dynamic`` on Linear layers (int8 weights, fp32 activations).

    Only ``nn.Linear`` (and RNN) layers have dynamic-quantised versions; every
    ``Conv2d`` stays fp32, which in a UNet is most of the compute. The function
    is deprecated in favour of torchao's ``quantize_``; its warning is left
    visible on purpose.
    """
    return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)


class OrtUNet(torch.nn.Module):
    """An ONNX Runtime session standing in for ``pipe.unet`` (same call, same outputs).

    Made by :func:`onnx_unet`. It keeps the original UNet's ``config``, ``dtype``
    and ``device`` so that ``StableDiffusionPipeline`` needs no change.
    """

    def __init__(self, session, unet, model_bytes: int = 0) -> None:
        super().__init__()
        self.session = session
        self.model_bytes = model_bytes
        self.config = unet.config
        self._dtype = unet.dtype
        self._device = unet.device
        self.inputs = [i.name for i in session.get_inputs()]

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    def forward(self, sample, timestep, encoder_hidden_states, *args, return_dict=False, **kwargs):
        timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(())
        feeds = {"sample": sample, "timestep": timestep,
                 "encoder_hidden_states": encoder_hidden_states}
        out = self.session.run(None, {k: feeds[k].detach().cpu().float().numpy()
                                      for k in self.inputs})[0]
        out = torch.from_numpy(out).to(sample.device, sample.dtype)
        return (out,) if not return_dict else {"sample": out}


class _UNetForExport(torch.nn.Module):
    def __init__(self, unet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


def onnx_unet(pipe, path, *, threads: int | None = None) -> OrtUNet:
    """Export ``pipe.unet`` to ONNX (``torch.onnx.export``, dynamo exporter) and load it in ORT.

    The batch dimension is dynamic, so classifier-free guidance batches of any
    size run. Needs ``pip install onnx onnxscript onnxruntime``. Use it with
    ``pipe.unet = onnx_unet(pipe, "unet.onnx")``.
    """
    import onnxruntime as ort

    unet = pipe.unet
    if unet.dtype != torch.float32:
        raise ValueError(f"export a float32 UNet (this one is {unet.dtype}); load the pipeline "
                         "with dtype=torch.float32")
    example = (torch.randn(2, unet.config.in_channels, unet.config.sample_size,
                           unet.config.sample_size),
               torch.tensor(500.0),
               torch.randn(2, pipe.tokenizer.model_max_length, unet.config.cross_attention_dim))
    batch = torch.export.Dim("batch", min=1, max=1024)
    exporter_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping …" x4
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # exporter internals: a pytree FutureWarning and a note on the shared "batch" axis
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name: batch.*")
            program = torch.onnx.export(
                _UNetForExport(unet).eval(), example, dynamo=True,
                input_names=["sample", "timestep", "encoder_hidden_states"],
                output_names=["out"], dynamic_shapes=({0: batch}, None, {0: batch}),
                verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.save(str(path))
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    path = Path(path)
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))  # + external data
    return OrtUNet(session, unet, size)
