"""FID and CLIPScore with the toy CLIP: offline, and they rank image sets the right way."""

import numpy as np
import pytest
from PIL import Image

from recipes import captions, metrics


@pytest.fixture(scope="module")
def renders():
    return [r.image for r in captions.make_dataset(96, seed=5)]


@pytest.fixture(scope="module")
def features():
    return metrics.ToyClipFeatures()


def test_fid_ranks_real_above_noise(renders, features):
    other = [r.image for r in captions.make_dataset(96, seed=6)]
    rng = np.random.default_rng(0)
    noise = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(96)]
    same_world = metrics.fid(renders, other, features)
    vs_noise = metrics.fid(renders, noise, features)
    assert 0 <= same_world < vs_noise / 5, (same_world, vs_noise)


def test_clip_score_prefers_the_right_caption(renders):
    scenes = [r.scene for r in captions.make_dataset(96, seed=5)][:32]
    right = [captions.caption(s, "en") for s in scenes]
    wrong = [captions.caption(scenes[(i + 7) % 32], "en") for i in range(32)]
    assert metrics.clip_score(renders[:32], right) > metrics.clip_score(renders[:32], wrong) + 5


def test_wilson_interval_known_values():
    from recipes.evaluation.metrics import wilson_interval

    lo, hi = wilson_interval(6, 6)
    assert abs(lo - 0.6097) < 1e-3 and abs(hi - 1.0) < 1e-9
    lo, hi = wilson_interval(50, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and abs(hi - 0.2775) < 1e-3
    import pytest

    with pytest.raises(ValueError):
        wilson_interval(3, 2)
