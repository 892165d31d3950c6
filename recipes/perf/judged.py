"""Judge a speed trick prompt by prompt: which images it loses and which it gains.

A speed option that changes the algorithm (``fast.CFGCutoff``, ``DeepCacheUNet``)
is checked against the plain pipeline on the same prompts and seeds;
``tools/cfg_cutoff.py`` and ``tools/deepcache.py`` report, per setting, the
all-correct share and how many prompts turned wrong (lost) or right (gained).
"""

from __future__ import annotations

import torch


def prompt_set(n: int, lora: str | None = None):
    """The toy fp32 pipeline and ``n`` judged prompts: the base world (prompt seed 11), or with
    ``lora`` ("star", "ink[:w]") that adapter loaded and its concept's prompts (those of
    ``make eval-lora``)."""
    from recipes.pipelines.models import load_pipeline

    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    if lora:
        from recipes.lora.load import apply_loras, resolve_specs
        from recipes.lora.prompts import concept_items

        apply_loras(pipe, resolve_specs([lora]))
        return pipe, concept_items(lora.split(":")[0], n)
    from recipes.toy.promptsets import prompt_items

    return pipe, prompt_items(n, seed=11)


def right_per_prompt(pipe, items, extra: dict | None = None) -> list[bool]:
    """Generate each prompt once (25 steps, guidance 7.5, seed 0 + i); True where every
    judged attribute is right."""
    from recipes.pipelines.generate import generate
    from recipes.toy import judge

    images = generate(pipe, [it["prompt"] for it in items], 0, batch_size=8, extra=extra)
    return [judge.score([im], [it["expect"]])["all_correct"] == 1
            for im, it in zip(images, items, strict=True)]


def versus(reference: list[bool] | None, ok: list[bool]) -> dict:
    """All-correct share of ``ok``, and (given a ``reference``) the prompts lost and gained."""
    row = {"all_correct": round(sum(ok) / len(ok), 3)}
    if reference is not None and reference is not ok:
        row["lost"] = sum(r and not o for r, o in zip(reference, ok, strict=True))
        row["gained"] = sum(o and not r for r, o in zip(reference, ok, strict=True))
    return row
