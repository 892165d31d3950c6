"""Prompt sets and training data for the reserved concepts: the ``star`` shape and ``ink`` style.

The base prompt sets (``recipes.toy.promptsets``) draw base-world scenes only;
these draw scenes with the star shape or the ink style, captioned by
``recipes.toy.captions.caption`` so English and Chinese use the same words the
rest of the course uses (星形 / 水墨).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from recipes.toy import captions as tc
from recipes.toy import world as tw
from recipes.toy.captions import partial_caption

# What each shipped concept draws: shapes and styles passed to ``world.sample_scene``.
CONCEPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "star": {"shapes": ("star",), "styles": ("plain",)},
    "ink": {"shapes": tw.BASE_SHAPES, "styles": ("ink",)},
    "base": {"shapes": tw.BASE_SHAPES, "styles": ("plain",)},
}


def concept_items(concept: str, n: int, seed: int = 0, lang: str = "en",
                  free: bool = False, partial: bool = False) -> list[dict]:
    """Return ``n`` items ``{"prompt", "expect"}`` for random scenes of ``concept``.

    ``concept`` is "star", "ink" or "base"; ``expect`` is the scene's true
    attributes (``style`` is named for ink scenes only, as captions do). The
    seed is mixed with the concept and language, so the sets are independent.
    ``free=True`` (English only) words each prompt in free English with at least
    one construction of the held-out grammar (``captions.free_caption``), as a
    person might type it, instead of the eight caption templates.
    ``partial=True`` (English only) leaves some attributes unsaid ("a red star on
    the left"; ``partial_caption``) and ``expect`` holds only what was said.
    """
    if concept not in CONCEPTS:
        raise ValueError(f"Unknown concept {concept!r}; choose one of: {', '.join(CONCEPTS)}")
    if (free or partial) and lang != "en":
        raise ValueError("free and partial prompts are English only: use lang='en'")
    if free and partial:
        raise ValueError("choose free or partial prompts, not both")
    rng = random.Random(f"lora-{concept}-{seed}-{lang}" + ("-free" if free else "")
                        + ("-partial" if partial else ""))
    spec = CONCEPTS[concept]
    items = []
    for _ in range(n):
        scene = tw.sample_scene(rng, spec["shapes"], spec["styles"])
        expect = scene.as_dict()
        if partial:
            prompt, omitted = partial_caption(scene, rng)
            expect = {k: v for k, v in expect.items() if k not in omitted}
        else:
            prompt = tc.free_caption(scene, rng, split="heldout") if free else \
                tc.caption(scene, lang, rng)
        items.append({"prompt": prompt, "expect": expect})
    return items


# What training captions leave unsaid (training_records' partial_share). Not the position: an
# adapter trained on captions that drop it reads held-out position phrases ("along the bottom")
# as unsaid too (free star position 0.97 -> 0.81; trial log in recipes.lora.train). The shipped
# recipes no longer use partial captions: since the English encoder reads an unsaid attribute
# as a default (recipes.toy.en.UNSAID_DEFAULTS), captions whose image shows some other size or
# background teach against it (star with partial_share 0.3 on that encoder: worse on every set).
PARTIAL_TRAIN_OMITTABLE = ("color", "size", "background")


LEAD_IN_WORDS = (3, 16)  # filler words before a caption (training_records' lead_in_share)


def training_records(concept: str, n: int, seed: int = 0, size: int = 64,
                     prior_fraction: float = 0.5,
                     langs: Sequence[str] = ("en",), small_share: float = 0.0,
                     free_share: float = 0.0, partial_share: float = 0.0,
                     lead_in_share: float = 0.0) -> list[tc.Record]:
    """Render ``n`` captioned images: the concept, mixed with base-world images.

    A share ``prior_fraction`` of the images is plain base world (prior
    preservation: the adapter keeps seeing what the base model already draws,
    so it learns the new word without forgetting the old ones). ``small_share``
    > 0 makes that share of the concept images small objects (0: as drawn, ~half).
    ``free_share`` > 0 re-captions that share of the English images (concept and
    prior alike) in free English (``captions.free_caption``, its train split): the
    phrasings people type, which the eight caption templates do not cover.
    ``partial_share`` > 0 then re-captions that share in free English that leaves
    some attributes unsaid (``partial_caption`` over ``PARTIAL_TRAIN_OMITTABLE``): the
    image stays the whole scene, so "a red star" learns a red star of any size.
    ``lead_in_share`` > 0 last leads that share of the captions with 3-16 words
    that name nothing (``recipes.toy.en.noise_words``) and ': ': the English
    encoder puts a prompt's meaning *after* its words, so a long prompt moves
    the states the adapter reacts to; an adapter trained on short captions only
    loses its concept in long prompts (``SHIPPED``'s trial log).
    """
    for name, share in (("free_share", free_share), ("partial_share", partial_share),
                        ("lead_in_share", lead_in_share)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {share}")
        if share and tuple(langs) != ("en",):
            raise ValueError(f"{name} re-captions in English: use langs=('en',)")
    n_prior = round(n * prior_fraction)
    spec = CONCEPTS[concept]
    n_new = n - n_prior
    new = tc.make_dataset(n_new * (3 if small_share else 1), seed=seed, size=size,
                          lang=tuple(langs), shapes=spec["shapes"], styles=spec["styles"])
    if small_share:
        small = [r for r in new if r.scene.size == "small"]
        large = [r for r in new if r.scene.size != "small"]
        k = min(round(n_new * small_share), len(small))
        new = small[:k] + large[:n_new - k]
    prior = tc.make_dataset(n_prior, seed=seed + 7919, size=size, lang=tuple(langs)) \
        if n_prior else []
    records = new + prior
    random.Random(seed).shuffle(records)
    if free_share:
        rng = random.Random(f"free-{seed}")
        records = [r._replace(caption=tc.free_caption(r.scene, rng, split="train"))
                   if rng.random() < free_share else r for r in records]
    if partial_share:
        rng = random.Random(f"partial-{seed}")
        records = [r._replace(caption=partial_caption(r.scene, rng,
                                                      omittable=PARTIAL_TRAIN_OMITTABLE)[0])
                   if rng.random() < partial_share else r for r in records]
    if lead_in_share:
        from recipes.toy.en import noise_words

        rng, vocab = random.Random(f"lead-in-{seed}"), noise_words()
        records = [r._replace(caption=" ".join(rng.choice(vocab) for _ in
                                               range(rng.randint(*LEAD_IN_WORDS)))
                              + ": " + r.caption)
                   if rng.random() < lead_in_share else r for r in records]
    return records


def main(argv: list[str] | None = None) -> int:
    """Write a star / ink / base prompt file as JSONL (for ``python -m recipes evaluate``)."""
    import argparse

    from recipes.toy.promptsets import write_jsonl

    parser = argparse.ArgumentParser(
        description="Write evaluation prompts with known answers for a LoRA concept",
        epilog="example: python -m recipes.lora.prompts --concept star --n 100 --out star.jsonl")
    parser.add_argument("--concept", choices=tuple(CONCEPTS), required=True,
                        help="star (new shape), ink (new style) or base (forgetting check)")
    parser.add_argument("--n", type=int, default=100, help="number of prompts (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="prompt-set seed (default: 0)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="caption language (default: en)")
    parser.add_argument("--free", action="store_true",
                        help="free English the way people type it (held-out grammar; en only)")
    parser.add_argument("--partial", action="store_true",
                        help="prompts that leave some attributes unsaid (en only); the "
                             "expected answers list only what was said")
    parser.add_argument("--out", required=True, help="JSONL file to write")
    args = parser.parse_args(argv)
    for flag in ("free", "partial"):
        if getattr(args, flag) and args.lang != "en":
            parser.error(f"--{flag} writes English prompts: drop --lang zh")
    if args.free and args.partial:
        parser.error("choose --free or --partial, not both")
    print(write_jsonl(concept_items(args.concept, args.n, args.seed, args.lang, args.free,
                                    args.partial), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
