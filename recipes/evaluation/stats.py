"""Metrics on cached features: torchmetrics FID/KID without re-running the feature network.

Measuring how FID depends on the sample size, or bootstrapping an interval,
means computing it hundreds of times on subsets of the same images. The
expensive part is the feature network; these helpers run it once
(:func:`image_features`) and then feed the cached features to torchmetrics'
own ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` through an
identity "feature extractor", so every number is still torchmetrics' math.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch


class Precomputed(torch.nn.Module):
    """Identity feature extractor: lets torchmetrics take already-computed (N, d) features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.double()


@torch.no_grad()
def image_features(images: Sequence, features: torch.nn.Module | None = None,
                   batch_size: int = 128) -> torch.Tensor:
    """Feature vectors (N, d) of PIL images, in batches (default: toy-CLIP image embeddings)."""
    from recipes.evaluation.metrics import ToyClipFeatures, to_uint8

    features = features or ToyClipFeatures()
    out = [features(to_uint8(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(out).double()


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """torchmetrics FID between two sets of cached features (lower is better)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 50,
                      subset_size: int | None = None, seed: int = 0) -> tuple[float, float]:
    """torchmetrics KID (mean, std over ``subsets`` random subsets) on cached features.

    ``subset_size`` defaults to the smaller set's size (capped at 1000, the
    torchmetrics default); the subsets are drawn from a seeded generator, so
    the result repeats.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = subset_size or min(len(real), len(fake), 1000)
    with warnings.catch_warnings():  # "will save all extracted features": they are small here
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        metric = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=subsets,
                                         subset_size=size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # torchmetrics draws its subsets with torch.randperm
    try:
        mean, std = metric.compute()
    finally:
        torch.random.set_rng_state(state)
    return float(mean), float(std)


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, *, reps: int = 200,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float, np.ndarray]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` items resampled.

    ``statistic`` receives an index array (drawn with replacement, length ``n``)
    and returns a number; the result is ``(low, high, all_values)``. Resampling
    images shows how much a score would move with another draw of the same size.
    """
    if n < 2 or reps < 10:
        raise ValueError("bootstrap needs n >= 2 items and reps >= 10 resamples")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(reps)], dtype=float)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high), values


@torch.no_grad()
def clip_scores(clip, processor, images: Sequence, prompts: Sequence[str]) -> np.ndarray:
    """Per-image CLIPScore, ``max(100 * cos(image, text), 0)``: torchmetrics' formula, unaveraged.

    ``clip, processor`` come from ``metrics.load_toy_clip()``. torchmetrics'
    ``CLIPScore`` returns only the mean over a batch; the per-image values are
    what a comparison between prompts for the *same* image needs.
    """
    batch = processor(text=list(prompts), images=list(images), return_tensors="pt",
                      padding=True, truncation=True)
    img = clip.get_image_features(pixel_values=batch["pixel_values"])
    txt = clip.get_text_features(input_ids=batch["input_ids"],
                                 attention_mask=batch["attention_mask"])
    cos = torch.nn.functional.cosine_similarity(img, txt, dim=-1)
    return (100 * cos).clamp(min=0).numpy()
