"""``make lora-experiments``: the rank sweep and the DreamBooth-style few-shot runs of chapter 06.

Each variant trains one ``star`` adapter with ``train_lora`` and is scored by
the judge on star prompts (learned) and base-world prompts (forgotten), next
to the base model on the same prompts and seeds. Results go to
``results/lora_experiments.json``; notebook 06 reads them.

- rank sweep: r = 1, 4, 16 with the shipped recipe's other settings, at
  ``--steps`` optimiser steps (fewer than the shipped adapter, to fit a CPU);
- few-shot: ``--shots`` star images only, without prior preservation (every
  image is a star) and with it (as many base-world images mixed in, the way
  DreamBooth adds class images so the model keeps its prior).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from recipes.lora import train as LT
from recipes.lora.load import WEIGHT_NAME
from recipes.lora.measure import concept_scores
from recipes.toy import model as tm

RESULTS = tm.ASSETS.parents[1] / "results" / "lora_experiments.json"


def variants(steps: int, shots: int) -> dict[str, LT.LoraSettings]:
    """The settings of every run, named for the results table."""
    base = replace(LT.LoraSettings(concept="star"), steps=steps)
    runs = {f"rank {r}": replace(base, rank=r, alpha=r) for r in (1, 4, 16)}
    # Few-shot: the same optimiser steps as the rank runs would overfit a handful of
    # images far more; DreamBooth's recipe uses a few hundred steps.
    few = replace(base, steps=max(steps // 3, 50), n_images=shots, prior_fraction=0.0)
    runs[f"{shots} shots, no prior"] = few
    runs[f"{shots} shots + prior"] = replace(few, n_images=2 * shots, prior_fraction=0.5)
    return runs


def score(pipe, n: int) -> dict:
    """All-correct and star-shape accuracy on star prompts, all-correct on base prompts."""
    star = concept_scores(pipe, "star", n, prompt_seed=5)
    base = concept_scores(pipe, "base", n, prompt_seed=5)
    return {"star_all_correct": star["all_correct"],
            "star_shape": star["per_attribute"]["shape"],
            "base_all_correct": base["all_correct"]}


def run(steps: int, shots: int, n_eval: int, only: list[str] | None = None) -> dict:
    """Train and score every variant (or those named in ``only``); return the results dict."""
    from recipes.pipelines.models import load_pipeline

    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    out = {"n_eval": n_eval, "eval_steps": 25, "threads": torch.get_num_threads(),
           "base_model": score(pipe, n_eval), "runs": {}}
    todo = {k: v for k, v in variants(steps, shots).items() if not only or k in only}
    for name, settings in tqdm(todo.items(), desc="lora experiments"):
        result = LT.train_lora(settings, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            folder = LT.save_adapter(result, Path(tmp) / "lora", settings)
            size = (folder / WEIGHT_NAME).stat().st_size
            pipe.load_lora_weights(folder, adapter_name="trial")
        row = score(pipe, n_eval)
        pipe.delete_adapters("trial")
        out["runs"][name] = {"rank": settings.rank, "steps": settings.steps,
                             "n_images": settings.n_images,
                             "prior_fraction": settings.prior_fraction,
                             "seconds": round(result.seconds, 1), "bytes": size, **row}
        print(name, json.dumps(out["runs"][name]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m recipes.lora.experiments [--steps N] [--shots K]``."""
    parser = argparse.ArgumentParser(description="LoRA rank sweep and few-shot runs (chapter 06)")
    parser.add_argument("--steps", type=int, default=1200, help="optimiser steps per rank run")
    parser.add_argument("--shots", type=int, default=16, help="star images in the few-shot runs")
    parser.add_argument("--n-eval", type=int, default=40, help="prompts per score (default: 40)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from recipes.lora.load import quiet_lora_warnings

    quiet_lora_warnings()
    results = run(args.steps, args.shots, args.n_eval)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
