"""Judge a LoRA adapter *while* it trains (issue 19): is a recipe slow, or unstable?

Trains one adapter with ``recipes.lora.train.train_lora`` (the shipped recipe of
``--concept`` with ``--set name=value`` overrides) and, every ``--every`` steps
and after the last, generates and judges three prompt sets with the adapter
as it is at that step (25 steps, guidance 7.5, seed 0): the concept's test set
(``make eval-lora``'s prompts: prompt seed 0), a validation set of another
prompt seed, and base-world prompts (forgetting); ``--free-sizes`` adds the
free-English concept and base sets of ``make eval-lora`` (prompt seed 0). Prints one JSON line per
checkpoint as it is judged, then all of them with the gradient norms of the
steps since the checkpoint before; ``--save`` writes the adapter at the end
like ``make toy-lora``.

    .venv/bin/python tools/lora_trajectory.py --concept star --seed 1 --every 300
    .venv/bin/python tools/lora_trajectory.py --concept star --set text_encoder_lr_scale=0.3
    .venv/bin/python tools/lora_trajectory.py --concept star --sizes 100,0,0 --free-sizes 100,100
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields

import numpy as np
import torch

from recipes.lora import train as lt
from recipes.lora.measure import concept_scores
from recipes.pipelines.models import load_pipeline


def parse_overrides(pairs: list[str]) -> dict:
    """``["lr=0.0015", "steps=3600"]`` -> typed ``LoraSettings`` overrides."""
    types = {f.name: f.type for f in fields(lt.LoraSettings)}
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types or not value:
            raise SystemExit(f"--set {pair!r}: use name=value with a LoraSettings field "
                             f"({', '.join(types)})")
        out[name] = int(value) if types[name] in (int, "int") else (
            float(value) if types[name] in (float, "float") else value)
    return out


def trajectory(concept: str, seed: int, every: int, overrides: dict, sizes=(100, 48, 32),
               save: str | None = None, free_sizes=(0, 0)) -> list[dict]:
    n_test, n_val, n_base = sizes
    n_free, n_free_base = free_sizes
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    plain_text = pipe.text_encoder
    rows: list[dict] = []

    def check(step, unet, text_encoder):
        pipe.unet, pipe.text_encoder = unet, text_encoder or plain_text
        start = time.perf_counter()
        test = concept_scores(pipe, concept, n_test, prompt_seed=0)
        row = {"step": step, "test": test["all_correct"], "test_per": test["per_attribute"]}
        for key, name, n, prompt_seed, free in (
                ("val", concept, n_val, 7, False), ("base", "base", n_base, 0, False),
                ("free", concept, n_free, 0, True), ("free_base", "base", n_free_base, 0, True)):
            if n:
                score = concept_scores(pipe, name, n, prompt_seed=prompt_seed, free=free)
                row[key] = round(score["all_correct"], 3)
        row["judge_s"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)

    settings = lt.shipped_settings(concept, seed=seed, **overrides)
    result = lt.train_lora(settings, progress=False, on_checkpoint=check, checkpoint_every=every)
    last = 0
    for row in rows:  # gradient norms of the steps since the previous checkpoint
        window = result.grad_norms[last:row["step"]]
        row.update({"grad_norm_median": round(float(np.median(window)), 4),
                    "grad_norm_max": round(float(np.max(window)), 4)})
        last = row["step"]
    if save:
        lt.save_adapter(result, save, settings)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", choices=("star", "ink"), default="star")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=300, help="judge every N steps")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a LoraSettings field (repeatable)")
    parser.add_argument("--sizes", default="100,48,32",
                        help="prompts in the test, validation and base sets")
    parser.add_argument("--free-sizes", default="0,0",
                        help="prompts in the free-English concept and base sets")
    parser.add_argument("--save", default=None, help="folder for the final adapter")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.sizes.split(","))
    free_sizes = tuple(int(n) for n in args.free_sizes.split(","))
    rows = trajectory(args.concept, args.seed, args.every, parse_overrides(args.set), sizes,
                      args.save, free_sizes)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
