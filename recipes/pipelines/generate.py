"""Generate images reproducibly and score them with the judge.

Each image gets its own ``torch.Generator`` seeded ``seed + i``, so an image
depends only on its prompt and seed, never on batch size or position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm


class PromptError(ValueError):
    """A prompt the model cannot use as given; the message says why and what to do."""


def check_prompt(prompt: str, tokenizer=None) -> str:
    """Return the prompt stripped, or raise ``PromptError`` if it is empty or too long.

    "Too long" means more tokens than the text encoder reads (77 for SD);
    the pipeline would silently cut the rest off, so we refuse instead.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError("Empty prompt: describe the image, "
                          "e.g. 'a large red circle on the left'.")
    prompt = prompt.strip()
    if tokenizer is not None:
        n = len(tokenizer(prompt).input_ids)
        limit = tokenizer.model_max_length
        if n > limit:
            raise PromptError(f"Prompt is {n} tokens but the text encoder reads at most {limit}; "
                              "shorten it (the rest would be silently dropped).")
    return prompt


def check_size(height: int, width: int) -> None:
    """Raise ``ValueError`` unless both sides are positive multiples of 8 (the VAE factor)."""
    for side, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < 8 or value % 8:
            raise ValueError(f"Bad {side} {value!r}: use a positive multiple of 8 "
                             "(the toy model is trained at 64).")


def generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One seeded generator per image (on ``device``, as diffusers samples noise there)."""
    dev = torch.device(device)
    gen_device = "cpu" if dev.type == "mps" else dev  # mps generators are not reproducible
    return [torch.Generator(gen_device).manual_seed(int(s)) for s in seeds]


def generate(pipe, prompts: Sequence[str], seed: int = 0, *, steps: int = 25,
             guidance: float = 7.5, negative_prompt: str | None = None, batch_size: int = 8,
             height: int | None = None, width: int | None = None, progress: bool = False,
             extra: dict | None = None):
    """Generate one image per prompt (image i uses seed ``seed + i``); returns PIL images.

    ``extra`` holds further pipeline arguments, e.g. a ControlNet's ``image``.
    A pipeline made by ``recipes.perf.fast.fast_preset`` also gets its
    ``fast_preset_call`` arguments (the guidance cutoff); ``extra`` wins on a clash.
    """
    extra = {**getattr(pipe, "fast_preset_call", {}), **(extra or {})}
    prompts = [check_prompt(p, pipe.tokenizer) for p in prompts]
    images = []
    batches = range(0, len(prompts), batch_size)
    for start in tqdm(batches, desc="generate", disable=not progress, leave=False):
        chunk = prompts[start:start + batch_size]
        out = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance,
                   negative_prompt=[negative_prompt] * len(chunk) if negative_prompt else None,
                   generator=generators(range(seed + start, seed + start + len(chunk)),
                                        pipe.device),
                   height=height, width=width, **extra)
        images.extend(out.images)
    return images


def time_generation(pipe, n_images: int = 4, steps: int = 25, repeats: int = 5,
                    guidance: float = 7.5) -> dict:
    """Median wall time of one ``pipe`` call making ``n_images`` images (after one warm-up).

    Uses ``recipes.bench.time_call`` (device synchronised on GPU). Returns
    seconds (median, min, max) and the settings, for ``python -m recipes speed``.
    """
    from recipes.perf.bench import time_call

    prompts = ["a large red circle on the left, white background"] * n_images
    timing = time_call(lambda: pipe(prompts, num_inference_steps=steps, guidance_scale=guidance,
                                    generator=generators(range(n_images), pipe.device)),
                       repeats=repeats, device=pipe.device)
    d = timing.as_dict()
    return {"images": n_images, "steps": steps, "median_s": d["median_s"], "min_s": d["min_s"],
            "max_s": d["max_s"], "repeats": repeats, "device": str(pipe.device),
            "threads": torch.get_num_threads()}
