"""DeepCacheUNet: exact on full steps, cached in between, and refuses what it cannot run."""

import pytest
import torch
from diffusers import UNet2DConditionModel

from recipes.perf import fast
from recipes.perf.deepcache import DeepCacheUNet
from recipes.perf.fast import CFGCutoff, fast_preset
from recipes.pipelines.models import load_pipeline
from recipes.toy import model as tm


@pytest.fixture(scope="module")
def unet():
    return UNet2DConditionModel.from_pretrained(tm.ASSETS / "toy" / "unet").eval()


def _inputs(unet, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    cfg = unet.config
    x = torch.randn(batch, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=g)
    context = torch.randn(batch, 16, cfg.cross_attention_dim, generator=g)
    return x, context


@torch.no_grad()
def test_full_and_shallow_match_the_unet_at_the_cached_step(unet):
    x, context = _inputs(unet)
    t = torch.tensor(500)
    ref = unet(x, t, context).sample
    dc = DeepCacheUNet(unet, 2)
    out, deep = dc.full(x, t, context)
    assert torch.equal(out, ref)
    # the deep features of this very step: the shallow path gives the same answer
    assert torch.equal(dc.shallow(x, t, context, deep), ref)
    # from a neighbouring step's cache it is an approximation, not the same
    near = dc.shallow(x, torch.tensor(480), context, deep)
    exact = unet(x, torch.tensor(480), context).sample
    assert not torch.equal(near, exact)
    assert (near - exact).abs().mean() < 0.5 * exact.abs().mean()


def _counting_pipe(interval):
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    pipe.unet = DeepCacheUNet(pipe.unet, interval)
    return pipe


@pytest.mark.parametrize("interval,full", [(2, 5), (3, 4)])
def test_interval_sets_how_many_full_steps_and_each_call_starts_full(interval, full):
    pipe = _counting_pipe(interval)
    for call in (1, 2):
        pipe(["a red circle"], num_inference_steps=10, output_type="latent")
        assert pipe.unet.full_calls == full * call
        assert pipe.unet.shallow_calls == (10 - full) * call


def test_interval_one_is_the_plain_unet():
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    ref = pipe(["a blue square"], num_inference_steps=6, output_type="latent", generator=g).images
    pipe.unet = DeepCacheUNet(pipe.unet, 1)
    g = torch.Generator().manual_seed(0)
    out = pipe(["a blue square"], num_inference_steps=6, output_type="latent", generator=g).images
    assert torch.equal(out, ref) and pipe.unet.shallow_calls == 0


def test_keeps_each_prompt_with_its_image_after_the_guidance_cutoff():
    """After the cutoff halves the batch each image keeps its own cached features, in order:
    a batch of two = each prompt alone."""
    pipe = _counting_pipe(2)

    def run(prompts, seeds):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return pipe(prompts, num_inference_steps=10, output_type="latent", generator=gens,
                    callback_on_step_end=CFGCutoff(cutoff_step_ratio=0.4)).images

    prompts = ["a large red circle on the left", "a small blue square at the top"]
    both = run(prompts, [0, 1])
    alone = torch.cat([run([prompts[0]], [0]), run([prompts[1]], [1])])
    assert pipe.unet.shallow_calls > 0
    assert torch.allclose(both, alone, atol=1e-3), (both - alone).abs().max()


@torch.no_grad()
def test_after_the_batch_halves_the_prompts_half_of_the_cache_is_used(unet):
    """CFG batches are [empty prompts, prompts]; the cutoff keeps the prompts (chunk(2)[1])."""
    x, context = _inputs(unet, batch=4)
    dc = DeepCacheUNet(unet, 2)
    dc(x, 500, context)  # a full step: caches the deep features of all four
    out = dc(x[2:], 480, context[2:], return_dict=False)[0]  # guidance stopped: two left
    assert dc.shallow_calls == 1
    _, deep = dc.full(x, 500, context)
    assert torch.equal(out, dc.shallow(x[2:], 480, context[2:], deep[2:]))
    assert not torch.equal(out, dc.shallow(x[2:], 480, context[2:], deep[:2]))


def test_diffusers_own_cache_hooks_do_not_cover_unets():
    """Why DeepCacheUNet exists: diffusers' enable_cache is for its transformer models. When a
    diffusers release adds it to UNet2DConditionModel, this fails: teach that instead."""
    from diffusers import FluxTransformer2DModel

    assert hasattr(FluxTransformer2DModel, "enable_cache")
    assert not hasattr(UNet2DConditionModel, "enable_cache")


def test_refuses_what_it_cannot_run(unet):
    with pytest.raises(ValueError, match="interval"):
        DeepCacheUNet(unet, 0)
    dc = DeepCacheUNet(unet, 2)
    x, context = _inputs(unet)
    with pytest.raises(ValueError, match="down_block_additional_residuals"):
        dc(x, 500, context, down_block_additional_residuals=(x,))
    lcm_like = UNet2DConditionModel.from_config({**unet.config, "time_cond_proj_dim": 32})
    with pytest.raises(ValueError, match="time_cond_proj_dim"):
        DeepCacheUNet(lcm_like, 2)


def test_fast_preset_wraps_only_when_asked():
    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), deep_cache=2)
    assert isinstance(pipe.unet, DeepCacheUNet)
    assert any("DeepCache" in s for s in pipe.fast_preset_steps)
    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32), deep_cache=None)
    assert not isinstance(pipe.unet, DeepCacheUNet)
    pipe = fast_preset(load_pipeline("toy", device="cpu", dtype=torch.float32))  # "auto"
    assert isinstance(pipe.unet, DeepCacheUNet) and pipe.unet.interval == fast.DEEP_CACHE


def test_auto_deep_cache_only_where_it_was_measured():
    assert fast.deep_cache_interval("auto", "cpu") == fast.DEEP_CACHE
    assert fast.deep_cache_interval("auto", "cuda") is None  # not measured on a GPU yet
    assert fast.deep_cache_interval(3, "cuda") == 3
    assert fast.deep_cache_interval(None, "cpu") is None
    with pytest.raises(ValueError, match="interval"):
        fast.deep_cache_interval("yes", "cpu")


def test_deepcache_tool_counts_lost_and_gained_prompts(load_tool):
    """tools/deepcache.py (the source of the DeepCache numbers in fast.py) runs and adds up."""
    tool = load_tool("deepcache")
    out = tool.quality(4, [1, 3], 0.4, None)
    assert out["prompts"] == 4 and set(out) >= {"interval 1", "interval 3"}
    row, base = out["interval 3"], out["interval 1"]["all_correct"]
    assert round(base + (row["gained"] - row["lost"]) / 4, 3) == row["all_correct"]
