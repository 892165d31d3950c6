"""Are short prompts' misses the encoder's or the UNet's? (the short_prompt trials, 2026-12-06)

For a file of prompts that leave attributes unsaid ("square", "a blue square"), builds
three kinds of ``prompt_embeds`` and judges the images (25 steps, guidance 7.5, several
seeds): the teacher's states of the canonical caption of the scene with
``recipes.toy.en.UNSAID_DEFAULTS`` filled in ("canonical"), the same laid out as the
student's target (``en.shifted_target``: what distillation asks for), and the shipped toy
encoder's own states ("student"). Also prints the student's MSE to that target. If the
target draws right and the student does not, the text side is what to fix.

    python tools/en_short_ceiling.py [PROMPTS.jsonl] [SEED ...]
    # default: results/prompts_en_short_handwritten.jsonl, seeds 0 100 200; ~1 min
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from recipes.pipelines.models import load_pipeline
from recipes.toy import captions as tc
from recipes.toy import en
from recipes.toy import judge as jd
from recipes.toy import model as tm
from recipes.toy import world as tw


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "results/prompts_en_short_handwritten.jsonl")
    seeds = [int(s) for s in sys.argv[2:]] or [0, 100, 200]
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [it["prompt"] for it in items]
    expects = [it["expect"] for it in items]
    scenes = [tw.Scene(**{**en.UNSAID_DEFAULTS, **e}) for e in expects]
    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    teacher, teacher_tok = en.load_teacher(), en.load_teacher_tokenizer()
    canon = tm.encode_many(teacher_tok, teacher, [tc.caption(s, "en") for s in scenes])
    empty = tm.encode_many(teacher_tok, teacher, [""])[0]
    eos = en.eos_positions(pipe.tokenizer, prompts)
    shifted = torch.stack([en.shifted_target(c, empty, int(e)) for c, e in zip(canon, eos,
                                                                             strict=True)])
    student = tm.encode_many(pipe.tokenizer, pipe.text_encoder, prompts)
    mse = ((student - shifted) ** 2).mean((1, 2))
    print(f"{path.name}: {len(items)} prompts; student MSE to the target: mean "
          f"{mse.mean():.4f}, max {mse.max():.4f}")
    negative = empty[None].expand(len(prompts), -1, -1)
    for name, embeds in (("canonical", canon), ("shifted target", shifted),
                         ("student", student)):
        scores = []
        for seed in seeds:
            gens = [torch.Generator().manual_seed(seed + i) for i in range(len(prompts))]
            images = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative,
                          num_inference_steps=25, guidance_scale=7.5, generator=gens).images
            scores.append(jd.score(images, expects)["all_correct"])
        print(f"{name:<15} all-correct " + " / ".join(f"{s:.3f}" for s in scores)
              + f"  (seeds {' / '.join(map(str, seeds))})")


if __name__ == "__main__":
    main()
