"""Experiment (issue 19): train a LoRA adapter on captions led by filler words.

Free-English prompts put the scene's words late: held-out free star prompts
average 30 toy tokens, the caption templates 14. The toy English encoder puts
the meaning *after* the words it reads (``recipes.toy.en``), so in a long prompt
the states the adapter must react to sit at token positions it never trained
on. The shipped star adapter, on the same 100 template prompts, led by a
38-token filler ("ok so here is what i would like you to draw for me today,
thanks: ..."): 0.73 all-correct instead of 0.89 (the base world: 0.97).

This trains the shipped recipe of ``--concept`` with ``--share`` of the
training captions (concept and prior alike) led by 3-16 filler words
(``recipes.toy.en.noise_words``: everyday words that name no attribute) and a
colon, and saves the adapter; judge it like any other
(``python -m recipes evaluate --prompts ... --lora DIR/lora-C``).

    .venv/bin/python tools/lora_lead_in.py --concept star --share 0.5 --out /tmp/lead
"""

from __future__ import annotations

import argparse
import json
import random

from recipes.lora import train as lt
from recipes.lora.prompts import training_records
from recipes.toy.en import noise_words


def lead_in(records: list, share: float, seed: int = 123, words: tuple[int, int] = (3, 16)):
    """``records`` with ``share`` of their captions led by ``words`` filler words and ': '."""
    rng = random.Random(seed)
    vocab = noise_words()

    def lead(caption: str) -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(*words))) + ": " + caption

    return [r._replace(caption=lead(r.caption)) if rng.random() < share else r for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", choices=("star", "ink"), default="star")
    parser.add_argument("--share", type=float, default=0.5, help="captions given a lead-in")
    parser.add_argument("--seed", type=int, default=0, help="training seed (LoraSettings.seed)")
    parser.add_argument("--out", required=True, help="folder that receives lora-<concept>/")
    args = parser.parse_args()
    s = lt.shipped_settings(args.concept, seed=args.seed)
    records = training_records(s.concept, s.n_images, s.seed, prior_fraction=s.prior_fraction,
                               small_share=s.small_share, free_share=s.free_share)
    result = lt.train_lora(s, records=lead_in(records, args.share))
    path = lt.save_adapter(result, f"{args.out}/lora-{args.concept}", s)
    log_file = path / "train_log.json"  # say what differs from the shipped recipe
    log = json.loads(log_file.read_text())
    log["lead_in"] = {"share": args.share, "seed": 123, "words": [3, 16]}
    log_file.write_text(json.dumps(log, indent=1))
    print(json.dumps({"adapter": str(path), "seconds": round(result.seconds, 1)}))


if __name__ == "__main__":
    main()
