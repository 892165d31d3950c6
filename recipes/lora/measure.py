"""Measurements for chapter 06: what an adapter learned, what it broke, and what cannot be learned.

``concept_scores`` scores a pipeline (with or without adapters) on prompts of a
concept; ``vae_ceiling`` measures how much of a concept survives the toy VAE
alone (encode, decode, judge): no UNet adapter can draw what the decoder cannot
produce; ``count_recompiles`` wraps ``torch.compile`` with a backend that counts
graph compilations, to show what ``enable_lora_hotswap`` saves.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from recipes.lora.prompts import concept_items


def concept_scores(pipe, concept: str, n: int, *, seed: int = 0, steps: int = 25,
                   lang: str = "en", prompt_seed: int = 1, free: bool = False) -> dict:
    """Generate ``n`` prompts of ``concept`` ("star", "ink" or "base") and score them.

    Returns ``recipes.evaluation.evaluate.evaluate``'s dict (``all_correct``,
    ``per_attribute`` incl. ``style`` for ink, seconds per image). The prompt set
    depends on ``prompt_seed`` and ``lang`` only, so adapters are compared on the
    same prompts and the same starting noise. ``free=True``: the free-English
    prompts of ``python -m recipes.lora.prompts --free`` instead of the templates.
    """
    from recipes.evaluation.evaluate import evaluate

    items = concept_items(concept, n, seed=prompt_seed, lang=lang, free=free)
    return evaluate(pipe, items, seed=seed, steps=steps)


def vae_ceiling(vae, concept: str, n: int = 64, seed: int = 3) -> dict[str, float]:
    """Judge accuracy per attribute of true renders of ``concept`` after a VAE round trip.

    Renders ``n`` scenes of the concept, encodes them to the latent mean,
    decodes, and lets the judge read the result (``recipes.toy.decoder.round_trip``).
    A UNet (or a UNet LoRA) only produces latents, so this is an upper bound for
    any adapter trained on this VAE's latents. ``style`` is reported for ink only.
    """
    from recipes.lora.prompts import CONCEPTS
    from recipes.toy.decoder import round_trip

    spec = CONCEPTS[concept]
    per = round_trip(vae, spec["shapes"], spec["styles"], n, seed)["per_attribute"]
    return {k: v for k, v in per.items() if k != "style" or concept == "ink"}


def count_recompiles(module: torch.nn.Module) -> Callable[[], int]:
    """Compile ``module`` in place (``module.compile``) with a counting backend; return the counter.

    The backend runs each captured graph eagerly and counts how many graphs
    Dynamo hands it: the first call compiles once, every later count is a
    recompilation (a guard failed, e.g. because LoRA layers changed). Use
    ``backend="inductor"`` in real code; the count is the same, as Dynamo decides it.
    In-place compilation keeps the module's class, so the pipeline still sees
    its adapters (``pipe.unet = torch.compile(pipe.unet)`` wraps it instead).
    """
    calls = {"n": 0}

    def backend(graph_module, example_inputs):
        calls["n"] += 1
        return graph_module.forward

    module.compile(backend=backend)
    return lambda: calls["n"]
