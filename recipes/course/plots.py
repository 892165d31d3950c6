"""Image grids and small plotting helpers (Chinese labels via ``setup_cjk_fonts``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from recipes.course.fonts import setup_cjk_fonts


def image_grid(images: Sequence, rows: int | None = None, titles: Sequence[str] | None = None,
               scale: float = 1.0, suptitle: str | None = None):
    """Show images in a grid (nearest-neighbour, so 64-px pixels stay crisp); returns the figure.

    ``rows`` defaults to one row up to 8 images, else square-ish; ``scale`` is
    inches per image. Titles may be Chinese.
    """
    import matplotlib.pyplot as plt

    setup_cjk_fonts()
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    rows = rows or (1 if n <= 8 else math.ceil(n / math.ceil(math.sqrt(n))))
    cols = math.ceil(n / rows)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6 * scale, rows * 1.8 * scale),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], interpolation="nearest")
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8 if scale < 2 else 9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
