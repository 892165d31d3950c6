"""fast_preset and the bench workloads: what they change, and that the code paths run on CPU."""

import json

import pytest
import torch

from recipes.perf import benchmarks
from recipes.perf.fast import cpu_bf16_is_fast, fast_preset, frozen
from recipes.pipelines.models import load_pipeline


@pytest.fixture(scope="module")
def toy_fast():
    return fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32))


def test_fast_preset_cpu_layout_and_dtype(toy_fast):
    bf16 = cpu_bf16_is_fast()
    want = torch.bfloat16 if bf16 else torch.float32
    assert toy_fast.unet.dtype == want and toy_fast.vae.dtype == want
    conv = toy_fast.unet.unet.conv_in.weight  # the UNet inside DeepCacheUNet
    # channels_last only for fp32 on CPU (with bf16 it measured slower)
    assert conv.is_contiguous(memory_format=torch.channels_last) == (not bf16)
    assert ("channels_last UNet and VAE" in toy_fast.fast_preset_steps) == (not bf16)
    assert not isinstance(toy_fast.unet, torch._dynamo.eval_frame.OptimizedModule)  # no compile


def test_fast_preset_explicit_fp32_keeps_dtype():
    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), dtype=torch.float32)
    assert pipe.unet.dtype == torch.float32
    assert not any("weights in" in s for s in pipe.fast_preset_steps)


def test_fast_pipeline_makes_a_judged_image(toy_fast):
    from recipes.pipelines.generate import generate
    from recipes.toy.judge import judge

    image = generate(toy_fast, ["a large red square on the left, white background"], 0)[0]
    assert judge(image).attributes["background"] == "white"


def test_sd15_architecture_and_flops_tiny():
    pipe = benchmarks.sd15_pipeline("cpu", torch.float32, tiny=True)
    assert pipe.unet.config.layers_per_block == 2
    assert list(pipe.unet.config.down_block_types) == list(
        benchmarks.SD15_UNET["down_block_types"])
    flops = benchmarks.unet_flops(pipe, 64)
    assert flops > 1e6
    # One CFG step (batch 2) costs twice a single forward.
    assert benchmarks.unet_flops(pipe, 64, batch=1) * 2 == pytest.approx(flops, rel=0.01)


def test_full_sd15_config_matches_published_size():
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**benchmarks.SD15_UNET)
    params = sum(p.numel() for p in unet.parameters())
    assert 855e6 < params < 865e6  # SD 1.5's UNet has 859.5 M parameters


def test_bench_sd15_tiny_runs_on_cpu():
    stages = []
    out = benchmarks.bench_sd15("cpu", steps=3, height=64, repeats=1, tiny=True, lcm_steps=2,
                                partial=lambda o: stages.append(json.dumps(o)))
    assert out["plain_its"] > 0 and out["fast_its"] > 0
    assert "RANDOM weights" in out["workload"]
    for name in ("plain", "fast"):  # whole images: 3 steps with CFG vs LCMScheduler, 2 steps
        assert out[name]["image_s"]["steps"] == 3 and out[name]["image_s"]["guidance"] == 7.5
        assert out[name]["image_s_lcm"]["steps"] == 2
        assert out[name]["image_s_lcm"]["guidance"] == 1.0
        assert out[name]["speedup_lcm"] > 0
    assert out["speedup_lcm"] == out["fast"]["speedup_lcm"] and out["lcm_steps"] == 2
    # each stage was handed out as it finished: plain loop, plain LCM, fast loop, fast LCM
    assert len(stages) == 4 and '"fast"' not in stages[0] and '"image_s_lcm"' in stages[-1]
    json.dumps(out)


def test_bench_cli_refuses_cuda_without_gpu(capsys):
    from recipes.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["bench", "--device", "cuda"]) == 2
    assert "NVIDIA GPU" in capsys.readouterr().err


def test_int8_dynamic_quantises_linear_and_leaves_conv2d():
    import warnings

    from recipes.perf.fast import int8_dynamic, module_counts, weights_mb

    pipe = benchmarks.sd15_pipeline("cpu", torch.float32, tiny=True)
    before = module_counts(pipe.unet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantised = int8_dynamic(pipe.unet)
    after = module_counts(quantised)
    assert after["Conv2d"] == before["Conv2d"] > 0
    assert after.get("DynamicQuantizedLinear", 0) == before["Linear"] > 0
    assert after.get("Linear", 0) == 0
    assert weights_mb(quantised) < weights_mb(pipe.unet) * 0.95  # int8 Linear weights are smaller


def test_weights_mb_halves_with_16_bit():
    from recipes.perf.fast import weights_mb

    layer = torch.nn.Linear(256, 256)
    assert weights_mb(layer) == pytest.approx(256 * 257 * 4 / 2**20, abs=0.01)
    assert weights_mb(layer.to(torch.bfloat16)) == pytest.approx(256 * 257 * 2 / 2**20, abs=0.01)


def test_onnx_unet_matches_torch(tmp_path, toy_pipe):
    pytest.importorskip("onnxruntime", reason="the onnx extra is installed by make")
    from recipes.perf.fast import onnx_unet

    # the toy UNet (3 blocks) exports in about a third of the time of the 4-block tiny SD 1.5
    # layout; the export path and the checks are the same
    pipe = toy_pipe
    ort_unet = onnx_unet(pipe, tmp_path / "unet.onnx")
    cfg = pipe.unet.config
    sample = torch.randn(3, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    context = torch.randn(3, 77, cfg.cross_attention_dim)
    with torch.no_grad():
        want = pipe.unet(sample, 321, context, return_dict=False)[0]
    got = ort_unet(sample, torch.tensor(321), encoder_hidden_states=context)[0]
    assert got.shape == want.shape  # batch 3: the exported batch axis is dynamic
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-3)
    assert ort_unet.config is pipe.unet.config and ort_unet.dtype == torch.float32


def test_onnx_unet_refuses_16_bit(tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is installed by make")
    from recipes.perf.fast import onnx_unet

    pipe = benchmarks.sd15_pipeline("cpu", torch.bfloat16, tiny=True)
    with pytest.raises(ValueError, match="float32"):
        onnx_unet(pipe, tmp_path / "unet.onnx")


def test_attention_tokens_pick_math_attention_only_for_short_sequences():
    from diffusers import UNet2DConditionModel

    from recipes.perf.fast import MATH_ATTENTION_MAX_TOKENS, attention_tokens

    toy = load_pipeline("toy", device="cpu", dtype=torch.float32).unet
    assert attention_tokens(toy) == 8 * 8  # 16x16 latents, first cross-attention block at 8x8
    with torch.device("meta"):
        sd15 = UNet2DConditionModel(**benchmarks.SD15_UNET)
    assert attention_tokens(sd15) == 64 * 64 > MATH_ATTENTION_MAX_TOKENS


class _Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.proj(self.conv(x).mean((2, 3)))


def test_cpu_compile_freezes_weights_and_keeps_models_apart():
    """The CPU compile recipe: weights really frozen, and two models of one class never mixed.

    With torch's skip_guard_on_all_nn_modules_unsafe the second model would
    silently run the first one's frozen weights; weight_identity_guards keeps
    each weight's identity check, so it compiles again instead.
    """
    from recipes.perf.fast import cpu_compile_options, frozen

    torch._dynamo.reset()
    x = torch.randn(2, 4, 8, 8)
    models, compiled = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = _Small().eval()
        fn = torch.compile(model, fullgraph=True, dynamic=False, options=cpu_compile_options())
        fn.forward = frozen(fn.forward)
        models.append(model)
        compiled.append(fn)
    with torch.no_grad():
        for model, fn in zip(models, compiled, strict=True):
            assert torch.allclose(fn(x), model(x), atol=1e-5)
        before = compiled[0](x)
        models[0].proj.bias += 1.0  # an in-place change after compiling is not seen: frozen
        assert torch.equal(compiled[0](x), before)
        assert not torch.allclose(models[0](x), before)


def test_cpu_compile_wiring_without_running_it():
    """fast_preset(compile=True) on CPU: classic attention for the toy's 64 tokens, the UNet and
    VAE decode compiled with cpu_compile_options and called under weight freezing. Nothing is
    called here (the compile takes over a minute; ``python -m recipes bench`` runs it)."""
    import torch._inductor.config as inductor_config
    from diffusers.models.attention_processor import AttnProcessor

    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), compile=True,
                       deep_cache=None)
    assert isinstance(pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert all(isinstance(p, AttnProcessor) for p in pipe.unet.attn_processors.values())
    assert any("frozen weights" in s for s in pipe.fast_preset_steps)
    # a stand-in for the UNet's own forward records whether freezing is on when it is reached
    seen = []
    pipe.unet._orig_mod.forward = lambda *a, **k: seen.append(inductor_config.freezing)
    with torch.compiler.set_stance("force_eager"):  # through the wrappers, nothing compiled
        pipe.unet(None)
    assert seen == [True] and inductor_config.freezing is False


def test_cpu_compile_wiring_with_deep_cache():
    """With DeepCache (the preset's default) both halves are compiled, each called under
    weight freezing (``frozen``), the UNet's attention is the classic one; nothing is run."""
    from diffusers.models.attention_processor import AttnProcessor

    from recipes.perf.deepcache import DeepCacheUNet

    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), compile=True)
    assert isinstance(pipe.unet, DeepCacheUNet) and pipe.unet.interval == 2
    assert all(isinstance(p, AttnProcessor) for p in pipe.unet.unet.attn_processors.values())
    for name in ("full", "shallow"):
        wrapper = getattr(pipe.unet, name)  # frozen(torch.compile(bound method))
        compiled = wrapper.__wrapped__
        method = getattr(DeepCacheUNet, name).__get__(pipe.unet)
        assert compiled._torchdynamo_orig_callable == method
        assert wrapper.__code__ is frozen(lambda: None).__code__  # the freezing wrapper


def test_bench_summary_names_the_cpu_kind_and_the_lcm_row(tmp_path):
    from recipes.perf import bench

    record = {"workload": "toy", "baseline_s": 1.0, "fast_s": 0.5, "speedup": 2.0,
              "accuracy_baseline": 1.0, "accuracy_fast": 1.0, "speedup_lcm": 6.5,
              "lcm_steps": 4, "accuracy_lcm": 0.96, "speedup_full_cfg": 1.6}
    bench.save("bench_cpu_avx2", record, folder=tmp_path)
    data = json.loads((tmp_path / "bench_cpu_avx2.json").read_text())
    assert data["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    table = bench.write_summary(tmp_path).read_text()
    assert "6.50x at 4 steps, accuracy 0.960" in table
    assert "2.00x (1.60x with guidance on every step)" in table
    assert "native bf16" in table  # "native bf16" or "no native bf16", whichever this CPU is


def _unet_batches(pipe):
    """Record the batch size of every UNet call of ``pipe`` (a forward pre-hook)."""
    seen = []
    handle = pipe.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    return seen, handle


def test_cfg_cutoff_halves_the_batch_after_the_cutoff(toy_pipe):
    from recipes.perf.fast import CFGCutoff

    seen, handle = _unet_batches(toy_pipe)
    try:
        toy_pipe(["a red circle", "a small blue square at the top"], num_inference_steps=10,
                 guidance_scale=7.5, callback_on_step_end=CFGCutoff(cutoff_step_ratio=0.4),
                 generator=torch.Generator().manual_seed(0))
        assert seen == [4] * 5 + [2] * 5  # steps 0-4 guided (2 x 2 prompts), then prompts only
        assert toy_pipe.guidance_scale == 0.0  # the callback's documented side effect
        seen.clear()  # guidance 1: nothing to stop, nothing changes
        toy_pipe(["a red circle"], num_inference_steps=4, guidance_scale=1.0,
                 callback_on_step_end=CFGCutoff(cutoff_step_ratio=0.5))
        assert seen == [1] * 4
    finally:
        handle.remove()


def test_cfg_cutoff_keeps_each_prompt_with_its_image(toy_pipe):
    """Batched with the cutoff = each prompt alone with the cutoff: the conditional half kept is
    the right one, in the right order. diffusers' SDCFGCutoffCallback fails on the batch."""
    import numpy as np
    from diffusers.callbacks import SDCFGCutoffCallback

    from recipes.perf.fast import CFGCutoff
    from recipes.pipelines.generate import generate

    prompts = ["a large red circle on the left", "a small blue square at the top, white background"]
    kw = {"steps": 8, "extra": {"callback_on_step_end": CFGCutoff(cutoff_step_ratio=0.4)}}
    both = generate(toy_pipe, prompts, 0, batch_size=2, **kw)
    alone = generate(toy_pipe, prompts, 0, batch_size=1, **kw)
    for a, b in zip(both, alone, strict=True):
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 3
    with pytest.raises(RuntimeError, match="size of tensor"):  # upstream: prompt_embeds[-1:]
        generate(toy_pipe, prompts, 0, steps=4, batch_size=2,
                 extra={"callback_on_step_end": SDCFGCutoffCallback(cutoff_step_ratio=0.4)})


def test_fast_preset_hands_over_the_cutoff_and_generate_uses_it():
    from recipes.pipelines.generate import generate

    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32),
                       dtype=torch.float32)
    assert any("guidance stops after 40%" in s for s in pipe.fast_preset_steps)
    seen, handle = _unet_batches(pipe)
    try:
        generate(pipe, ["a red circle"], 0, steps=5)
        assert seen == [2, 2, 2, 1, 1]  # int(5 * 0.4) = 2: steps 0-2 guided
        seen.clear()
        generate(pipe, ["a red circle"], 0, steps=5, extra={"callback_on_step_end": None})
        assert seen == [2] * 5  # extra wins: full guidance
    finally:
        handle.remove()
    plain = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), cfg_cutoff=None)
    assert plain.fast_preset_call == {}
    assert not any("guidance" in s for s in plain.fast_preset_steps)


def test_cfg_cutoff_tool_counts_lost_and_gained_prompts(load_tool):
    """tools/cfg_cutoff.py (the source of fast.py's cutoff numbers) runs and adds up."""
    tool = load_tool("cfg_cutoff")
    out = tool.quality(4, [1.0, 0.0], None)
    full, cut = out["cutoff 100%"], out["cutoff 0%"]
    assert out["prompts"] == 4 and "lost" not in full
    assert cut["all_correct"] * 4 == pytest.approx(full["all_correct"] * 4 - cut["lost"]
                                                   + cut["gained"])
