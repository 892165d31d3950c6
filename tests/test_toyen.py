"""Free English for the toy model: the grammar, its held-out split, the distilled encoder."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace

import pytest
import torch

from recipes.toy import captions as tc
from recipes.toy import en, promptsets
from recipes.toy import judge as jd
from recipes.toy import model as tm
from recipes.toy import world as tw


def _free(split: str, n: int, seed: int = 0) -> list[tuple[tw.Scene, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        scene = tw.sample_scene(rng, tw.ALL_SHAPES, tw.STYLES)
        out.append((scene, tc.free_caption(scene, rng, split)))
    return out


@pytest.mark.parametrize("split", tc.GRAMMAR_SPLITS)
def test_free_captions_parse_back_to_their_scene_and_vary(split):
    pairs = _free(split, 1500)
    for scene, text in pairs:
        assert jd.parse_prompt(text) == scene.as_dict(), text
    texts = {t for _, t in pairs}
    assert len(texts) > 1450
    # Any clause order: the object comes first in some prompts, last in others.
    firsts = {re.split(r"[,;.]", t.lower())[0].strip()[:6] for t in texts}
    assert len(firsts) > 100
    assert any(t[:1].isupper() for t in texts) and any(t.endswith(("!", "?", ".")) for t in texts)


def _heldout_phrases() -> list[str]:
    phrases = [p for p in tc._PREFIXES["heldout"] if p]
    phrases += [p for table in tc._POSITION["heldout"].values() for p in table]
    phrases += [b.format(b=c) for b in tc._BACKGROUND["heldout"] for c in ("white", "black")]
    phrases += list(tc._FILLER["heldout"]) + list(tc._INTENSIFIERS["heldout"])
    return phrases


def test_training_split_never_uses_a_held_out_construction():
    phrases = _heldout_phrases()
    seps = [s for s in tc._SEPARATORS["heldout"]]
    for _, text in _free("train", 2000, seed=1):
        low = text.lower()
        hits = [p for p in phrases if re.search(rf"(?<![\w']){re.escape(p.lower())}(?![\w'])", low)]
        assert not hits, (hits, text)
        assert not any(s in text for s in seps), text
    # Nor the frames of the older unseen_order set (those stay unseen for every model).
    unseen_order = ("located", "you can see", "position:", "it sits")
    assert not any(w in t.lower() for _, t in _free("train", 2000, seed=2) for w in unseen_order)


def test_held_out_split_has_an_unseen_construction_in_most_prompts():
    phrases = [p.lower() for p in _heldout_phrases()]
    seps = tc._SEPARATORS["heldout"]
    pairs = _free("heldout", 400, seed=3)
    marked = sum(any(p in t.lower() for p in phrases) or any(s in t for s in seps)
                 for _, t in pairs)
    assert marked / len(pairs) > 0.8  # the rest hold out only the object frame or determiner
    with pytest.raises(ValueError, match="split"):
        tc.free_caption(pairs[0][0], 0, split="test")


def test_unseen_grammar_prompt_set_is_seeded_and_english_only():
    a = promptsets.prompt_items(20, seed=4, phrasing="unseen_grammar")
    assert a == promptsets.prompt_items(20, seed=4, phrasing="unseen_grammar")
    assert all(jd.parse_prompt(it["prompt"]) == it["expect"] for it in a)
    with pytest.raises(ValueError, match="English only"):
        promptsets.prompt_items(2, lang="zh", phrasing="unseen_grammar")


def test_handwritten_sets_are_well_formed():
    results = tm.ASSETS.parent.parent / "results"
    items = [json.loads(line) for line in (results / "prompts_en_free_handwritten.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 50
    for it in items:
        assert set(it["expect"]) == set(tw.ATTRIBUTES)
        tw.Scene(**it["expect"])  # valid values
    # short ones ("a red circle"): expect is exactly what the prompt says, the shape always
    for name in ("en_short", "zh_short", "en_terse"):
        short = [json.loads(line) for line in (results / f"prompts_{name}_handwritten.jsonl")
                 .read_text(encoding="utf-8").splitlines()]
        assert len(short) >= 40
        for it in short:
            assert jd.parse_prompt(it["prompt"]) == it["expect"] and "shape" in it["expect"], it
            assert len(it["expect"]) < len(tw.ATTRIBUTES), it
    # Training never reads them: the package names them only in the report's list of sets.
    for py in (tm.ASSETS.parent).rglob("*.py"):
        lines = [ln for ln in py.read_text(encoding="utf-8").splitlines()
                 if "_handwritten" in ln]
        tail = '"short_handwritten", "terse_handwritten")'
        assert all(ln.startswith("EVAL_SETS = ") or ln.strip() == tail for ln in lines), (py, lines)


@pytest.fixture(scope="module")
def teacher():
    return en.load_teacher()


@pytest.fixture(scope="module")
def tokenizer():
    return en.load_teacher_tokenizer()


def test_distill_lowers_the_loss_from_the_teacher(tokenizer, teacher):
    scenes = en.all_scenes()[::97]
    sizes = en.Sizes(steps=12, batch=8, lr=1e-3, merges=50)
    student, student_tok, losses = en.distill(tokenizer, teacher, sizes=sizes, progress=False,
                                              scenes=scenes)
    assert len(losses) == 12 and sum(losses[-4:]) < sum(losses[:4])
    assert not any(p.requires_grad for p in teacher.parameters())
    assert student is not teacher
    assert student.get_input_embeddings().num_embeddings == len(student_tok) > len(tokenizer)


def test_extended_tokenizer_keeps_the_templates_and_shortens_free_english(tokenizer):
    new, pieces = en.extend_tokenizer(tokenizer, en.grammar_corpus(n=3000), 300)
    assert len(new) > len(tokenizer) and min(pieces) == len(tokenizer)
    rng = random.Random(0)
    for scene in en.all_scenes()[::7]:
        # The base BPE was learned from the base world (no star, no ink style).
        if scene.style == "plain" and scene.shape in tw.BASE_SHAPES:
            text = tc.caption(scene, "en", rng)
            assert new(text).input_ids == tokenizer(text).input_ids, text
    free = [t for _, t in _free("train", 200)]
    assert en.eos_positions(new, free).float().mean() < 0.8 * en.eos_positions(
        tokenizer, free).float().mean()
    # Each new token stands for the old tokens it replaces.
    token = new.convert_ids_to_tokens(min(pieces))
    assert tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(
        pieces[min(pieces)])) == new.convert_tokens_to_string([token])


def test_shifted_target_puts_the_canonical_states_after_the_prompt():
    states, empty = torch.randn(77, 4), torch.randn(77, 4)
    out = en.shifted_target(states, empty, eos=10)
    assert torch.equal(out[0], states[0]) and torch.equal(out[1:11], empty[1:11])
    assert torch.equal(out[11:], states[1:67])


def test_teacher_pipeline_is_the_pre_distillation_model(tmp_path, teacher, tokenizer):
    from transformers import CLIPTextModel, CLIPTokenizer

    from recipes.toy.zh import encode

    out = en.save_teacher_pipeline(tmp_path / "before")
    assert (out / "unet").is_symlink() and not (out / "text_encoder").is_symlink()
    loaded = CLIPTextModel.from_pretrained(out / "text_encoder").eval()
    loaded_tok = CLIPTokenizer.from_pretrained(out / "tokenizer")
    assert len(loaded_tok) == len(tokenizer)
    with torch.no_grad():
        a = encode(loaded_tok, loaded, ["a big red ball, black bg"])
        b = encode(tokenizer, teacher, ["a big red ball, black bg"])
    assert torch.equal(a, b)


def test_before_after_table_reads_the_evaluation_files(tmp_path):
    attrs = {"shape": 0.5, "color": 1.0, "position": 0.75, "size": 1.0, "background": 1.0}
    for name, value in (("toy_eval_en_free_handwritten_before.json", 0.25),
                        ("toy_eval_en_free_handwritten.json", 0.5)):
        (tmp_path / name).write_text(json.dumps({"n": 4, "all_correct": value,
                                                 "per_attribute": attrs}))
    table = en.before_after(tmp_path)
    assert list(table) == ["free_handwritten"]
    assert table["free_handwritten"]["before"]["all_correct"] == 0.25
    assert table["free_handwritten"]["after"]["shape"] == 0.5
    text = en.format_table(table)
    assert "free_handwritten" in text and "0.500" in text and len(text.splitlines()) == 3


def _nearest_scene_share(teacher, tokenizer, enc_tok, enc, items) -> float:
    """Share of ``items`` whose states under (``enc_tok``, ``enc``) are nearest to the layout
    (``shifted_target``) of the teacher's canonical states of their ``expect`` scene, among
    the plain base-shape scenes."""
    scenes = [s for s in en.all_scenes() if s.style == "plain" and s.shape in tw.BASE_SHAPES]
    canon = tm.encode_many(tokenizer, teacher, [tc.caption(s, "en") for s in scenes])
    empty = tm.encode_many(tokenizer, teacher, [""])[0]
    prompts = [it["prompt"] for it in items]
    states = tm.encode_many(enc_tok, enc, prompts)
    eos = en.eos_positions(enc_tok, prompts)
    n = 0
    for it, got, e in zip(items, states, eos, strict=True):
        targets = torch.stack([en.shifted_target(c, empty, int(e)) for c in canon])
        best = scenes[int(((targets - got) ** 2).mean((1, 2)).argmin())]
        n += best.as_dict() == it["expect"]
    return n / len(items)


@pytest.fixture(scope="module")
def shipped():
    from transformers import CLIPTextModel, CLIPTokenizer

    return (CLIPTokenizer.from_pretrained(tm.TOY_DIR / "tokenizer"),
            CLIPTextModel.from_pretrained(tm.TOY_DIR / "text_encoder").eval())


def test_shipped_encoder_puts_the_scene_of_held_out_grammar_after_the_words(teacher, tokenizer,
                                                                             shipped):
    """Without generating: the shipped toy encoder's states for held-out phrasings are nearest
    to the layout (``shifted_target``) of the right scene's canonical states (measured on 300:
    0.96; the pre-distillation encoder reaches far less)."""
    items = promptsets.prompt_items(24, seed=5, phrasing="unseen_grammar")
    assert _nearest_scene_share(teacher, tokenizer, *shipped, items) >= 0.8
    assert _nearest_scene_share(teacher, tokenizer, tokenizer, teacher, items) < 0.5


def test_shipped_encoder_fills_unsaid_attributes_with_the_defaults(teacher, tokenizer, shipped):
    """A prompt that leaves attributes unsaid ("a red circle", "a square on black", held-out
    phrasings too) gets the states of the scene with ``en.UNSAID_DEFAULTS`` in their place:
    the base UNet never learned states for "no size" (make eval-lora's partial base set)."""
    rng = random.Random("unsaid")
    items = []
    for i in range(32):
        scene = tw.sample_scene(rng, tw.BASE_SHAPES, ("plain",))
        omit = tuple(a for a in tc.OMITTABLE if rng.random() < 0.5) or ("size",)
        text = tc.free_caption(scene, rng, tc.GRAMMAR_SPLITS[i % 2], omit=omit)
        assert set(jd.parse_prompt(text)) == set(scene.as_dict()) - set(omit), text
        full = replace(scene, **{a: en.UNSAID_DEFAULTS[a] for a in omit})
        items.append({"prompt": text, "expect": full.as_dict()})
    assert _nearest_scene_share(teacher, tokenizer, *shipped, items) >= 0.8


def test_unsaid_training_prompts_and_their_targets():
    rng = random.Random(3)
    kinds = set()
    for _ in range(600):
        scene = tw.sample_scene(rng, tw.ALL_SHAPES, tw.STYLES)
        text, target = en.unsaid_prompt(scene, rng)
        said = jd.parse_prompt(text)
        unsaid = frozenset(a for a in scene.as_dict() if a not in said)
        assert unsaid and unsaid <= set(tc.OMITTABLE), text
        assert said == {k: v for k, v in scene.as_dict().items() if k not in unsaid}, text
        assert target == replace(scene, **{a: en.UNSAID_DEFAULTS[a] for a in unsaid})
        kinds.add(unsaid)
    assert len(kinds) == 15  # every non-empty subset, down to the bare shape
    # the prompts that keep the teacher's own states (ControlNet's) name no shape at all
    for text in en.partial_prompts():
        assert "shape" not in jd.parse_prompt(text), text


def test_short_training_prompts_and_their_targets():
    """``en.short_prompt``: from one word to a short sentence, the shape always, train-split
    words only, and the target is the scene with the defaults for what it leaves unsaid."""
    rng = random.Random(4)
    held = [p.lower() for p in _heldout_phrases()]
    said_counts = set()
    lengths = []
    for _ in range(600):
        scene = tw.sample_scene(rng, tw.ALL_SHAPES, tw.STYLES)
        text, target = en.short_prompt(scene, rng)
        said = jd.parse_prompt(text)
        assert said["shape"] == scene.shape and said.get("style", "plain") == scene.style, text
        assert all(scene.as_dict()[k] == v for k, v in said.items()), text
        unsaid = set(tc.OMITTABLE) - set(said)
        assert target == replace(scene, **{a: en.UNSAID_DEFAULTS[a] for a in unsaid}), text
        assert not any(re.search(rf"\b{re.escape(h)}\b", text.lower()) for h in held), text
        assert not re.search(r"\s[,;]|,,|\s\s|^\W", text), text
        said_counts.add(len(set(said) & set(tc.OMITTABLE)))
        lengths.append(len(text.split()))
    assert said_counts == {0, 1, 2, 3}
    assert sum(n <= 3 for n in lengths) / len(lengths) >= 0.1  # "square", "a green box" (0.16)
    assert min(lengths) == 1


def test_shipped_encoder_reads_short_handwritten_prompts(teacher, tokenizer, shipped):
    """The 40 hand-written short prompts ("square", "green square", "a blue square") and 40 more
    written after the short training prompts were added (``terse_handwritten``): their states
    are nearest to the layout of the defaults-filled scene's. The encoder before those
    training prompts drew the wrong shape for 9 of the first 40 (all-correct 0.775, the same
    9 at seeds 0, 100 and 200: the states were wrong, not the noise); make eval-toy now
    reads 0.975 and 1.00."""
    results = tm.ASSETS.parent.parent / "results"
    items = []
    for name in ("short_handwritten", "terse_handwritten"):
        for line in (results / f"prompts_en_{name}.jsonl").read_text(encoding="utf-8").splitlines():
            it = json.loads(line)
            items.append({"prompt": it["prompt"], "expect": {**en.UNSAID_DEFAULTS, **it["expect"]}})
    assert len(items) == 80
    # measured: 1.00 for the shipped encoder, 0.775 (62 of 80) for the one before
    assert _nearest_scene_share(teacher, tokenizer, *shipped, items) >= 0.95


@pytest.mark.parametrize("split", tc.GRAMMAR_SPLITS)
def test_free_captions_can_leave_attributes_unsaid(split):
    rng = random.Random(f"omit-{split}")
    seen = set()
    for _ in range(800):
        scene = tw.sample_scene(rng, tw.ALL_SHAPES, tw.STYLES)
        omit = tuple(a for a in tc.OMITTABLE if rng.random() < 0.5)
        text = tc.free_caption(scene, rng, split, omit=omit)
        said = {k: v for k, v in scene.as_dict().items() if k not in omit}
        assert jd.parse_prompt(text) == said, (omit, text)
        assert not re.search(r"\s[,;]|,,|\s\s|^\W", text), text  # no holes where words were
        seen.add(omit)
    assert len(seen) == 16  # every subset, down to the bare shape
    with pytest.raises(ValueError, match="omit"):
        tc.free_caption(scene, 0, split, omit=("shape",))

