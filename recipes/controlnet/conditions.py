"""Control conditions (Canny edges, filled region masks) and how well an image follows them.

Conditions are made the way the real ControlNets expect them: RGB images in
[0, 255], white structure on black, the size of the generated image.
``canny`` calls ``cv2.Canny`` exactly as the preprocessor of
``lllyasviel/sd-controlnet-canny`` does (grey image, two hysteresis
thresholds); ``region`` is a filled object mask (a coarse "segmentation" map).

Adherence is measured with the two metrics ControlNet++ reports for these
conditions: IoU between the generated object's mask and the control region,
and an edge F1 between Canny edges of the output and the control edges (with a
1-pixel tolerance, since a 64×64 edge that is off by one pixel is still the same
outline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

CONDITIONS = ("canny", "region")
# lllyasviel's annotator defaults are 100/200 on 512 px photos; the toy's flat shapes have
# one clean step edge, and a yellow square on white is only ~60 grey levels of contrast,
# so lower thresholds keep every colour's outline.
CANNY_LOW, CANNY_HIGH = 50, 100


def _rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.uint8)
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return a[..., :3]


def canny(
    image: Image.Image | np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH
) -> Image.Image:
    """Canny edges of ``image`` as an RGB PIL image (white edges on black), same size.

    The input is converted to grey and passed to ``cv2.Canny(grey, low, high)``;
    the single-channel result is repeated to three channels, the layout
    ``StableDiffusionControlNetPipeline`` and the hub's canny ControlNets expect.
    """
    grey = cv2.cvtColor(_rgb(image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1), "RGB")


def object_mask(image: Image.Image | np.ndarray, min_contrast: float = 40.0) -> np.ndarray:
    """Boolean mask of the object in a toy-world-like image (one shape on a flat background).

    The background colour is the median of the border pixels; a pixel belongs to
    the object when it differs from it by more than half the image's strongest
    contrast (the 50% coverage line of an anti-aliased edge). An image with no
    contrast above ``min_contrast`` (grey levels) has an empty mask.
    """
    a = _rgb(image).astype(np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dist = np.abs(a - np.median(border, axis=0)).max(axis=-1)
    top = float(np.percentile(dist, 99.5))
    if top < min_contrast:
        return np.zeros(dist.shape, bool)
    return dist > 0.5 * top


def region(image: Image.Image | np.ndarray) -> Image.Image:
    """The filled object mask of ``image`` as an RGB condition image (white object on black)."""
    m = object_mask(image).astype(np.uint8) * 255
    return Image.fromarray(np.stack([m] * 3, axis=-1), "RGB")


def make_condition(kind: str, image: Image.Image | np.ndarray) -> Image.Image:
    """Turn a photo-like ``image`` into the ``kind`` condition ("canny" or "region")."""
    if kind == "canny":
        return canny(image)
    if kind == "region":
        return region(image)
    raise ValueError(f"Unknown condition {kind!r}: use one of {', '.join(CONDITIONS)}.")


def fill_outline(edges: Image.Image | np.ndarray) -> np.ndarray:
    """The region enclosed by a (closed) white outline: the outline plus its filled holes."""
    e = _rgb(edges).max(axis=-1) > 127
    return ndimage.binary_fill_holes(e)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def edge_f1(
    pred_edges: Image.Image | np.ndarray, ref_edges: Image.Image | np.ndarray, tolerance: int = 1
) -> float:
    """F1 of two edge maps, an edge pixel counting as matched within ``tolerance`` pixels.

    Precision is the share of predicted edge pixels near a reference edge, recall
    the share of reference edge pixels near a predicted one; both empty gives 1.0.
    """
    p = _rgb(pred_edges).max(axis=-1) > 127
    r = _rgb(ref_edges).max(axis=-1) > 127
    if not p.any() and not r.any():
        return 1.0
    if not p.any() or not r.any():
        return 0.0
    k = np.ones((2 * tolerance + 1,) * 2, bool)
    precision = (p & ndimage.binary_dilation(r, k)).sum() / p.sum()
    recall = (r & ndimage.binary_dilation(p, k)).sum() / r.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def adherence(
    images: Sequence[Image.Image], controls: Sequence[Image.Image], regions: Sequence[np.ndarray]
) -> dict[str, float]:
    """Mean IoU (object mask vs ``regions``) and mean edge F1 (canny(image) vs ``controls``)."""
    ious = [iou(object_mask(im), r) for im, r in zip(images, regions, strict=True)]
    f1s = [edge_f1(canny(im), c) for im, c in zip(images, controls, strict=True)]
    return {"iou": float(np.mean(ious)), "edge_f1": float(np.mean(f1s))}


def polygon(
    sides: int,
    size: int = 64,
    radius: float = 0.3,
    center: tuple[float, float] = (0.5, 0.5),
    rotation: float = 0.0,
    star: float | None = None,
) -> Image.Image:
    """A filled white polygon (or a star when ``star`` is the inner/outer ratio) on black.

    Used to draw shapes the toy world never had (hexagon, pentagon, a 6-point
    star) at ``size`` pixels; ``canny`` of it is a control outline and
    ``object_mask`` of it the region to compare with.
    """
    big = size * 4
    pts, n = [], sides * (2 if star else 1)
    for k in range(n):
        r = radius * (star if star and k % 2 else 1.0) * big
        a = math.radians(-90 + rotation + 360 * k / n)
        pts.append((center[0] * big + r * math.cos(a), center[1] * big + r * math.sin(a)))
    canvas = Image.new("L", (big, big), 0)
    ImageDraw.Draw(canvas).polygon(pts, fill=255)
    return canvas.reduce(4).convert("RGB")
