"""Choose the guidance scale an adapter is used at, on validation prompts, and record it.

Guidance 7.5 is Stable Diffusion 1.5's habit, not a law. Classifier-free guidance
multiplies the difference between the prompt's prediction and the empty prompt's;
a style adapter makes that difference large, and 7.5 times it overshoots: the
shipped ink adapter's circles come out lumpy and are read as triangles (ink shape
0.88 on the 100 validation prompts at 7.5, 0.96 at 4: ``python -m recipes.lora.prompts
--concept ink --n 100 --seed 7 --out val.jsonl``, then ``python -m recipes evaluate
--prompts val.jsonl --lora ink --guidance G``; ``SHIPPED``'s trial log in
``recipes.lora.train``). Model cards of style LoRAs say "use CFG 3-5" for this reason.
Here the number is measured, not guessed:

    python -m recipes.lora.guidance --concept ink     # ~4 min on 2 CPU cores

generates the adapter's validation prompts (prompt seed ``VAL_SEED``, not the
sets ``make eval-lora`` judges) at each scale in ``SCALES``: the concept in
template and in free English, and the base world with the adapter loaded (what
it must not break). The scale with the best mean all-correct (ties: the larger
scale) is written to ``<adapter folder>/guidance.json``.
``python -m recipes generate|evaluate --lora ...`` use it when ``--guidance``
is not given (``recipes.lora.load.recommended_guidance``) and say so on stderr.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SCALES = (2.0, 3.0, 4.0, 5.0, 6.0, 7.5)
VAL_SEED = 7  # prompt seed of the validation sets; make eval-lora uses prompt seed 0


def validation_sets(concept: str, n: int) -> dict[str, list[dict]]:
    """The three sets a scale is chosen on: concept templates, concept free English, base world."""
    from recipes.lora.prompts import concept_items

    return {concept: concept_items(concept, n, seed=VAL_SEED),
            f"free_{concept}": concept_items(concept, n, seed=VAL_SEED, free=True),
            "base": concept_items("base", n, seed=VAL_SEED)}


def choose(sweep: dict[str, dict[str, float]]) -> float:
    """The scale whose mean all-correct over the sets is highest; ties go to the larger scale."""
    def mean(scale: str) -> float:
        return round(sum(sweep[scale].values()) / len(sweep[scale]), 6)

    return float(max(sweep, key=lambda s: (mean(s), float(s))))


def sweep_adapter(folder: str | Path, concept: str, n: int = 100, scales=SCALES, *,
                  steps: int = 25, seed: int = 0, device: str = "cpu") -> dict:
    """Judge the adapter in ``folder`` at every scale; return what ``guidance.json`` holds."""
    from recipes.evaluation.evaluate import evaluate
    from recipes.lora.load import SHIPPED, LoraSpec, apply_loras, resolve
    from recipes.pipelines.models import load_pipeline

    start = time.perf_counter()
    pipe = load_pipeline("toy", device=device)
    pipe.set_progress_bar_config(disable=True)
    apply_loras(pipe, [LoraSpec(resolve(str(folder)), concept)], fuse=True)
    sets = validation_sets(concept, n)
    sweep = {str(g): {name: evaluate(pipe, items, seed, steps=steps, guidance=g)["all_correct"]
                      for name, items in sets.items()}
             for g in scales}
    return {"recommended": choose(sweep), "all_correct": sweep, "n_per_set": n,
            "prompt_seed": VAL_SEED, "steps": steps, "seed": seed,
            "seconds": round(time.perf_counter() - start, 1),
            "command": f"python -m recipes.lora.guidance --concept {concept} --n {n}"
                       + (f" --folder {folder}" if Path(folder) != SHIPPED.get(concept) else "")}


def main(argv: list[str] | None = None) -> int:
    from recipes.lora.load import GUIDANCE_FILE, SHIPPED

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concept", required=True, choices=("star", "ink"))
    parser.add_argument("--folder", type=Path, default=None,
                        help="adapter folder (default: the shipped recipes/assets/lora-<concept>)")
    parser.add_argument("--n", type=int, default=100, help="prompts per validation set")
    args = parser.parse_args(argv)
    folder = args.folder or SHIPPED[args.concept]
    result = sweep_adapter(folder, args.concept, args.n)
    (Path(folder) / GUIDANCE_FILE).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
