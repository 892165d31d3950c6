"""The English toy text encoder, distilled so that it reads English the way people type it.

The base training (``recipes.toy.train``) teaches the toy CLIP text tower only
the eight caption templates, so free English ("draw me a huge crimson ball in
the middle, black bg") lands in states the UNet never learned. The UNet and
VAE are fine (the bilingual toy-zh encoder reads the same prompts well), so
only the text tower is retrained, by the toy-zh recipe (``recipes.toy.zh``):

* teacher: the base text tower, frozen; it reads ONE canonical template caption
  per scene ("a large red circle on the left, white background"), for every
  scene of the world including the star shape and the ink style (the LoRA
  chapter's concepts), and "" for the unconditional branch;
* student: the same ``CLIPTextModel`` with the same tokenizer, initialised from
  the teacher, trained (MSE over all 77 token states) so that any phrasing of a
  scene gives the teacher's canonical states: the templates themselves, and
  free English from ``recipes.toy.captions.free_caption`` (train split only;
  the held-out constructions are the ``unseen_grammar`` evaluation set).

Because the targets are the teacher's states, everything trained on the
teacher stays valid: the UNet, toy-zh, the ControlNet and the LoRA adapters.

Where the teacher lives: the base training saves the full toy CLIP to
``recipes/assets/toy-clip`` (its text tower is bit-identical to the
pre-distillation ``toy/text_encoder``; the evaluation chapter uses its image
tower for FID). The distillation reads its teacher from there, so no extra
copy is stored and ``make toy-model-en`` can rerun this step on top of the
shipped teacher, or right after ``make toy-model``'s base training, with the
same result (a rebuild from scratch stays possible).

Status (issue 16): not shipped yet. The shipped ``toy/text_encoder`` is still
the teacher; 1500 steps × 32 prompts (23 min on a shared, niced 2-core CPU)
did not reach the bar on the held-out grammar. One known limit: CLIP's text
tower is causal, so at positions before a prompt's last attribute word the
student cannot know that word, while the canonical target (object first)
already encodes it; only the later (padding) states can match exactly. ``python -m recipes.toy.en
--teacher-pipeline DIR`` writes the pre-distillation pipeline (links to the
toy's UNet/VAE) for before/after evaluations.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from recipes.toy import captions as tc
from recipes.toy import model as tm
from recipes.toy import world as tw
from recipes.toy.zh import encode

LOG_NAME = "train_log.json"  # written inside the text_encoder folder


@dataclass
class Sizes:
    """How much to train; the defaults are what ``make toy-model-en`` ships."""

    steps: int = 2400
    batch: int = 48
    lr: float = 2e-4
    p_template: float = 0.3
    p_empty: float = 0.04
    seed: int = 0


def all_scenes() -> list[tw.Scene]:
    """Every scene the renderer knows: 4 shapes × 6 colours × 5 positions × 2 sizes × 2
    backgrounds × 2 styles (star and ink included, so the LoRA prompts keep their states)."""
    import itertools

    keys = ("shape", "color", "position", "size", "background", "style")
    values = [tw.VALUES[k] if k in ("shape", "style") else tw.ATTRIBUTES[k] for k in keys]
    return [tw.Scene(**dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def load_teacher(clip_dir: str | Path = tm.TOY_CLIP_DIR):
    """The pre-distillation text tower: the text half of the shipped toy CLIP, frozen, eval mode."""
    from safetensors.torch import load_file
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_pretrained(clip_dir)  # reads text_config of the CLIPConfig
    teacher = CLIPTextModel(config)
    weights = load_file(Path(clip_dir) / "model.safetensors")
    prefix = "text_model."
    # transformers 5 keeps the text tower's modules at the top level of CLIPTextModel
    # (save_pretrained writes the "text_model." names back, as in the toy folder).
    state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    if not any(k.startswith(prefix) for k in teacher.state_dict()):
        weights = state
    else:
        weights = {prefix + k: v for k, v in state.items()}
    teacher.load_state_dict(weights)
    return teacher.eval().requires_grad_(False)


@torch.no_grad()
def teacher_targets(tokenizer, teacher,
                    scenes: list[tw.Scene]) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's 77 states for each scene's canonical caption, and for ""."""
    captions = [tc.caption(s, "en") for s in scenes]
    states = torch.cat([encode(tokenizer, teacher, captions[i:i + 256])
                        for i in range(0, len(captions), 256)])
    return states.float(), encode(tokenizer, teacher, [""]).float()[0]


def training_prompt(scene: tw.Scene, rng: random.Random, p_template: float,
                    p_empty: float) -> str:
    """One training input: "", a template caption, or free English (train split)."""
    u = rng.random()
    if u < p_empty:
        return ""
    if u < p_empty + p_template:
        return tc.caption(scene, "en", rng)
    return tc.free_caption(scene, rng, split="train")


def distill(tokenizer, teacher, student=None, sizes: Sizes | None = None,
            progress: bool = True,
            scenes: list[tw.Scene] | None = None) -> tuple[torch.nn.Module, list[float]]:
    """Train ``student`` (default: a copy of ``teacher``) to give canonical states for any phrasing.

    Returns the student in eval mode and its loss per step. Seeded: the same
    sizes give the same weights on the same machine. ``scenes`` (default: every
    scene, ``all_scenes()``) restricts training to some scenes, for quick tests.
    """
    import copy

    from recipes.toy.train import _update, warmup_cosine

    sizes = sizes or Sizes()
    student = student if student is not None else copy.deepcopy(teacher)
    scenes = scenes or all_scenes()
    targets, empty = teacher_targets(tokenizer, teacher, scenes)
    rng = random.Random(sizes.seed)
    torch.manual_seed(sizes.seed)
    student.requires_grad_(True).train()
    opt = torch.optim.AdamW(student.parameters(), lr=sizes.lr, weight_decay=0.0)
    sched = warmup_cosine(opt, sizes.steps)
    losses: list[float] = []
    bar = tqdm(range(sizes.steps), desc="distil en encoder", disable=not progress)
    for step in bar:
        idx = [rng.randrange(len(scenes)) for _ in range(sizes.batch)]
        prompts = [training_prompt(scenes[i], rng, sizes.p_template, sizes.p_empty)
                   for i in idx]
        target = torch.stack([empty if p == "" else targets[i]
                              for p, i in zip(prompts, idx, strict=True)])
        loss = F.mse_loss(encode(tokenizer, student, prompts), target)
        _update(loss, None, opt, sched, losses, bar, step, clip=1.0)
    return student.eval().requires_grad_(False), losses


def save_text_encoder(student, toy_dir: str | Path = tm.TOY_DIR, log: dict | None = None) -> Path:
    """Replace ``toy_dir/text_encoder`` with the student (safetensors) and its train log."""
    out = Path(toy_dir) / "text_encoder"
    student.save_pretrained(out, safe_serialization=True)
    if log is not None:
        (out / LOG_NAME).write_text(json.dumps(log, indent=1))
    return out


def save_teacher_pipeline(out: str | Path, toy_dir: str | Path = tm.TOY_DIR,
                          clip_dir: str | Path = tm.TOY_CLIP_DIR) -> Path:
    """Write the pre-distillation toy pipeline to ``out``: the teacher text tower, and the
    toy's tokenizer, scheduler, UNet and VAE as links (for before/after evaluations)."""
    out, toy_dir = Path(out), Path(toy_dir).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for part in ("model_index.json", "scheduler", "tokenizer", "unet", "vae"):
        (out / part).symlink_to(toy_dir / part, target_is_directory=(toy_dir / part).is_dir())
    load_teacher(clip_dir).save_pretrained(out / "text_encoder", safe_serialization=True)
    return out


EVAL_SETS = ("templates", "unseen_order", "unseen_words", "unseen_grammar", "free_handwritten")
ATTRS = ("shape", "color", "position", "size", "background")


def before_after(results: str | Path = "results") -> dict:
    """Collect ``toy_eval_en_<set>_before.json`` / ``toy_eval_en_<set>.json`` into one table.

    Returns ``{set: {"before": {...}, "after": {...}}}`` with all-correct and
    per-attribute accuracy (sets without a file are left out); ``make eval-toy``
    writes it to ``results/toy_en_before_after.json`` and prints it.
    """
    results, table = Path(results), {}
    for name in EVAL_SETS:
        row = {}
        for when, suffix in (("before", "_before"), ("after", "")):
            path = results / f"toy_eval_en_{name}{suffix}.json"
            if path.exists():
                d = json.loads(path.read_text())
                row[when] = {"n": d["n"], "all_correct": round(d["all_correct"], 3),
                             **{a: round(d["per_attribute"][a], 3) for a in ATTRS}}
        if row:
            table[name] = row
    return table


def format_table(table: dict) -> str:
    """The before/after table as aligned text, one line per set and model."""
    head = f"{'set':<17}{'model':<8}{'n':>5}{'all':>7}" + "".join(f"{a[:5]:>7}" for a in ATTRS)
    lines = [head]
    for name, row in table.items():
        for when, d in row.items():
            lines.append(f"{name:<17}{when:<8}{d['n']:>5}{d['all_correct']:>7.3f}"
                         + "".join(f"{d[a]:>7.3f}" for a in ATTRS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line for ``make toy-model-en``: distil, save, print timings as JSON."""
    from transformers import CLIPTokenizer

    from recipes.course import quiet
    from recipes.toy.train import _thin

    quiet.install()
    parser = argparse.ArgumentParser(
        description="Distil the toy's English text encoder so it reads free English",
        epilog="example:\n  python -m recipes.toy.en --steps 2400\n"
               "  python -m recipes.toy.en --teacher-pipeline /tmp/toy-before")
    parser.add_argument("--toy", type=Path, default=tm.TOY_DIR,
                        help=f"toy pipeline folder whose text_encoder is replaced "
                             f"(default: {tm.TOY_DIR})")
    parser.add_argument("--teacher", type=Path, default=tm.TOY_CLIP_DIR,
                        help=f"CLIP folder whose text tower is the teacher "
                             f"(default: {tm.TOY_CLIP_DIR})")
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="only print the before/after table of the evaluations in DIR "
                             "and write DIR/toy_en_before_after.json (e.g. --report results; "
                             "default: off)")
    parser.add_argument("--teacher-pipeline", type=Path, default=None, metavar="DIR",
                        help="only write the pre-distillation pipeline to DIR and exit "
                             "(default: off)")
    for field, value in asdict(Sizes()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value,
                            help=f"(default: {value})")
    args = parser.parse_args(argv)
    if args.report is not None:
        table = before_after(args.report)
        (args.report / "toy_en_before_after.json").write_text(json.dumps(table, indent=1))
        print(format_table(table))
        return 0
    if args.teacher_pipeline is not None:
        print(save_teacher_pipeline(args.teacher_pipeline, args.toy, args.teacher))
        return 0
    sizes = Sizes(**{f: getattr(args, f) for f in asdict(Sizes())})
    t0 = time.perf_counter()
    tokenizer = CLIPTokenizer.from_pretrained(args.toy / "tokenizer")
    student, losses = distill(tokenizer, load_teacher(args.teacher), sizes=sizes)
    seconds = round(time.perf_counter() - t0, 1)
    log = {"sizes": asdict(sizes), "seconds": seconds, "threads": torch.get_num_threads(),
           "teacher": "text tower of recipes/assets/toy-clip", "loss": _thin(losses)}
    save_text_encoder(student, args.toy, log)
    print(json.dumps({"seconds": seconds, "final_loss": round(sum(losses[-50:]) / 50, 5),
                      "out": str(args.toy / "text_encoder")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
