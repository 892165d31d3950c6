"""Which layouts of the teacher's 77 text states does the toy UNet still read? (issue 16)

Feeds hand-built ``prompt_embeds`` (the base CLIP text tower's states, toy-clip) for
held-out free-English prompts and judges the images, 25 steps, guidance 7.5:

* canon           the canonical caption's states ("a large red circle on the left, ...")
* free            the prompt's own states (what the base encoder gives the user's words)
* canon_permuted  canonical states in random order (cross-attention has no positions)
* pad_only        canonical, with the word positions replaced by the empty prompt's states
* shift_empty     empty-prompt states on the user's words, the canonical states after them
                  (``recipes.toy.en.shifted_target``: the distillation target)
* same_position   empty-prompt states on the user's words, canonical states at their own
                  positions after them (what a causal student could give before)

The measurement behind the distillation target in ``recipes/toy/en.py``.

    python tools/en_state_layouts.py [N]     # N held-out prompts (default 48), ~1 min
"""

from __future__ import annotations

import sys

import torch

from recipes.pipelines.models import load_pipeline
from recipes.toy import captions as tc
from recipes.toy import judge as jd
from recipes.toy import promptsets
from recipes.toy import world as tw
from recipes.toy.en import eos_positions, load_teacher, load_teacher_tokenizer, shifted_target
from recipes.toy.model import encode


def layouts(canon: torch.Tensor, free: torch.Tensor, empty: torch.Tensor,
            eos_canon: list[int], eos_free: list[int]) -> dict[str, torch.Tensor]:
    """The state layouts named in the module docstring, one tensor [n, 77, d] each."""
    n = canon.shape[0]
    perm = torch.cat([torch.tensor([0]),
                      torch.randperm(76, generator=torch.Generator().manual_seed(0)) + 1])
    pad_only, same_position = canon.clone(), canon.clone()
    for i in range(n):
        pad_only[i, 1:eos_canon[i]] = empty[1:eos_canon[i]]
        same_position[i, 1:eos_free[i] + 1] = empty[1:eos_free[i] + 1]
    shift = torch.stack([shifted_target(canon[i], empty, eos_free[i]) for i in range(n)])
    return {"canon": canon, "free": free, "canon_permuted": canon[:, perm],
            "pad_only": pad_only, "shift_empty": shift, "same_position": same_position}


def main(n: int = 48) -> None:
    pipe = load_pipeline("toy", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    teacher, tok = load_teacher(), load_teacher_tokenizer()
    items = promptsets.prompt_items(n, seed=0, phrasing="unseen_grammar")
    canon_text = [tc.caption(tw.Scene(**{**it["expect"], "style": "plain"}), "en")
                  for it in items]
    free_text = [it["prompt"] for it in items]
    with torch.no_grad():
        canon, free = encode(tok, teacher, canon_text), encode(tok, teacher, free_text)
        empty = encode(tok, teacher, [""])[0]
    eos_canon = eos_positions(tok, canon_text).tolist()
    eos_free = eos_positions(tok, free_text).tolist()
    print(f"{n} held-out prompts; mean end position: canonical {sum(eos_canon) / n:.1f}, "
          f"free {sum(eos_free) / n:.1f} (teacher tokenizer)")
    neg = empty.expand(16, -1, -1)
    for name, states in layouts(canon, free, empty, eos_canon, eos_free).items():
        images = []
        for b in range(0, n, 16):
            chunk = states[b:b + 16]
            gens = [torch.Generator().manual_seed(1000 + i) for i in range(b, b + len(chunk))]
            images += pipe(prompt_embeds=chunk, negative_prompt_embeds=neg[:len(chunk)],
                           num_inference_steps=25, guidance_scale=7.5, generator=gens).images
        score = jd.score(images, [it["expect"] for it in items])
        attrs = " ".join(f"{k} {v:.2f}" for k, v in score["per_attribute"].items())
        print(f"{name:15s} all-correct {score['all_correct']:.3f}  ({attrs})", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 48)
