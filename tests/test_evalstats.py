"""recipes.evaluation.stats and .profiling: cached-feature metrics agree with torchmetrics."""

import numpy as np
import pytest
import torch

from recipes.evaluation import metrics, profiling, stats
from recipes.toy import world as toyworld


@pytest.fixture(scope="module")
def renders():
    rng = np.random.default_rng(0)
    scenes = [toyworld.sample_scene(int(s)) for s in rng.integers(0, 10_000, 24)]
    a = [toyworld.render(s, seed=i) for i, s in enumerate(scenes)]
    b = [toyworld.render(s, seed=100 + i) for i, s in enumerate(scenes)]
    return scenes, a, b


def test_cached_features_give_torchmetrics_fid(renders):
    _, a, b = renders
    feats = metrics.ToyClipFeatures()
    direct = metrics.fid(a, b, feats)
    cached = stats.fid_from_features(stats.image_features(a, feats, batch_size=7),
                                     stats.image_features(b, feats))
    assert cached == pytest.approx(direct, rel=1e-6, abs=1e-9)


def test_kid_repeats_with_seed_and_separates_sets():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
    same = stats.kid_from_features(x, y, subsets=20, subset_size=100, seed=1)
    assert same == stats.kid_from_features(x, y, subsets=20, subset_size=100, seed=1)
    shifted = stats.kid_from_features(x, y + 1.0, subsets=20, subset_size=100, seed=1)
    assert shifted[0] > same[0] + 5 * same[1]


def test_bootstrap_interval_covers_the_mean():
    values = np.random.default_rng(0).normal(5.0, 1.0, 400)
    low, high, draws = stats.bootstrap_ci(lambda idx: values[idx].mean(), len(values), reps=200)
    assert low < 5.0 < high and high - low < 0.5 and len(draws) == 200
    with pytest.raises(ValueError):
        stats.bootstrap_ci(lambda idx: 0.0, 1)


def test_per_image_clip_scores_average_to_torchmetrics(renders):
    scenes, a, _ = renders
    from recipes.toy import captions

    prompts = [captions.caption(s, "en", 0) for s in scenes[:6]]
    clip, processor = metrics.load_toy_clip()
    per_image = stats.clip_scores(clip, processor, a[:6], prompts)
    assert per_image.shape == (6,)
    assert per_image.mean() == pytest.approx(metrics.clip_score(a[:6], prompts), abs=0.05)


def test_label_parts_names_every_part_and_cleans_up(toy_pipe):
    with profiling.label_parts(toy_pipe), torch.profiler.profile() as prof:
        toy_pipe(["a red circle"], num_inference_steps=2, guidance_scale=7.5,
                 output_type="pil")
    rows = {r["part"]: r for r in profiling.part_table(prof)}
    assert set(rows) == set(profiling.PARTS)
    assert rows["scheduler_step"]["calls"] == 2 and rows["unet"]["calls"] == 2
    assert "step" not in toy_pipe.scheduler.__dict__
    assert not toy_pipe.unet._forward_pre_hooks and not toy_pipe.unet._forward_hooks
