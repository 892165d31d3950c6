"""FID and CLIPScore with the toy CLIP: torchmetrics' own metrics, nothing downloaded.

torchmetrics' FID normally uses InceptionV3 weights from the internet; it also
accepts any feature extractor module, so we give it the toy CLIP's image
embeddings (128-d). The numbers are comparable with each other, not with
published FIDs on real photos: always say which features were used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recipes.toy.model import TOY_CLIP_DIR

FEATURES_NAME = "toy-CLIP image embeddings (128-d)"


class _FeatureTensors(torch.nn.Module):
    """A CLIPModel whose ``get_*_features`` return tensors, as torchmetrics expects.

    transformers 5 returns a ``BaseModelOutputWithPooling`` (the projected
    embedding is its ``pooler_output``); torchmetrics 1.9 still calls ``.norm``
    on the result directly.
    """

    def __init__(self, clip) -> None:
        super().__init__()
        self.clip = clip
        self.config = clip.config  # torchmetrics reads the text length limit from here

    def get_image_features(self, *args, **kwargs) -> torch.Tensor:
        out = self.clip.get_image_features(*args, **kwargs)
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def get_text_features(self, *args, **kwargs) -> torch.Tensor:
        out = self.clip.get_text_features(*args, **kwargs)
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def load_toy_clip():
    """Return ``(model, CLIPProcessor)`` for the shipped toy CLIP, in eval mode.

    The model is wrapped so that torchmetrics' CLIPScore can use it (see ``_FeatureTensors``).
    """
    from transformers import CLIPModel, CLIPProcessor

    return (_FeatureTensors(CLIPModel.from_pretrained(TOY_CLIP_DIR)).eval(),
            CLIPProcessor.from_pretrained(TOY_CLIP_DIR))


class ToyClipFeatures(torch.nn.Module):
    """uint8 images (N, 3, H, W) → toy-CLIP image embeddings, as FID's feature extractor."""

    num_features = 128

    def __init__(self) -> None:
        super().__init__()
        from transformers import CLIPVisionModelWithProjection
        from transformers.utils import logging as hf_logging

        # toy-clip is a whole CLIPModel; loading only its vision tower makes transformers
        # print a table of the (deliberately) unused text weights. Quiet it for this call.
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.model = CLIPVisionModelWithProjection.from_pretrained(TOY_CLIP_DIR).eval()
        finally:
            hf_logging.set_verbosity(level)
        self.size = self.model.config.image_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 127.5 - 1.0  # the toy CLIP was trained on [-1, 1] pixels
        if x.shape[-1] != self.size:
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear",
                                                antialias=True, align_corners=False)
        return self.model(pixel_values=x).image_embeds.double()


def to_uint8(images: Sequence) -> torch.Tensor:
    """PIL images or HWC uint8 arrays → a (N, 3, H, W) uint8 tensor."""
    arr = np.stack([np.asarray(im.convert("RGB") if hasattr(im, "convert") else im,
                               dtype=np.uint8) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def fid(real: Sequence, fake: Sequence, features: torch.nn.Module | None = None) -> float:
    """Fréchet distance between two image sets in toy-CLIP feature space (lower is better)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=features or ToyClipFeatures())
    metric.update(to_uint8(real), real=True)
    metric.update(to_uint8(fake), real=False)
    return float(metric.compute())


def clip_score(images: Sequence, prompts: Sequence[str]) -> float:
    """torchmetrics CLIPScore (100 × cosine, ≥ 0) of images vs prompts under the toy CLIP."""
    import warnings

    from torchmetrics.multimodal.clip_score import CLIPScore

    metric = CLIPScore(model_name_or_path=load_toy_clip)
    with warnings.catch_warnings():
        # torchmetrics tokenizes with padding=True and no truncation; prompts are checked
        # against the 77-token budget elsewhere, so transformers' max_length note is noise here
        warnings.filterwarnings("ignore", message="`max_length` is ignored when `padding`")
        metric.update(to_uint8(images), list(prompts))
    return float(metric.compute())


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for ``k`` successes out of ``n`` (default z = 1.96).

    Unlike the normal approximation it stays inside [0, 1] and is honest at the
    small counts a CPU notebook can afford: 6/6 correct gives about [0.61, 1.00],
    so "100 %" on six images is not a ranking against "83 %".
    """
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1 trials")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n={n}, got {k}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
