"""Judge accuracy (and optionally FID) of a pipeline over a JSONL prompt file."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from recipes.pipelines.generate import generate
from recipes.toy import judge as jd


def read_prompts(path: str | Path) -> list[dict]:
    """Read a JSONL prompt file: each line ``{"prompt": ..., "expect": {...}}`` (expect optional).

    Blank lines are skipped; a malformed line raises ``ValueError`` naming its
    line number. Missing ``expect`` is parsed from the prompt by the judge.
    """
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise ValueError(f"{path}:{number}: expected an object with a string 'prompt'")
        expect = item.get("expect") or jd.parse_prompt(item["prompt"])
        if not isinstance(expect, dict) or not expect:
            raise ValueError(f"{path}:{number}: no attributes to check: give 'expect' or a "
                             "prompt that names a shape, colour, position, size or background")
        items.append({"prompt": item["prompt"], "expect": expect})
    if not items:
        raise ValueError(f"{path}: no prompts")
    return items


def evaluate(pipe, items: Sequence[dict], seed: int = 0, *, steps: int = 25,
             guidance: float = 7.5, batch_size: int = 16, progress: bool = False,
             fid: bool = False, misses: str | Path | None = None) -> dict:
    """Generate every prompt once and score the images against ``expect`` with the judge.

    Returns the judge's score (``n``, ``all_correct``, ``per_attribute``) plus
    seconds per image and the settings used, ready to print as JSON. With
    ``fid=True`` it also renders the true scene of every item and reports the
    FID between generated and real images in toy-CLIP feature space. With
    ``misses=PATH`` every prompt with a wrong attribute is written to that JSONL
    file (see ``miss_records``) and the result names the file.
    """
    start = time.perf_counter()
    images = generate(pipe, [it["prompt"] for it in items], seed, steps=steps, guidance=guidance,
                      batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - start
    verdicts = [jd.judge(image) for image in images]
    result = jd.score(verdicts, [it["expect"] for it in items])
    result.update({"seconds_per_image": round(seconds / len(items), 4), "steps": steps,
                   "guidance": guidance, "seed": seed,
                   "scheduler": type(pipe.scheduler).__name__})
    if fid:
        result.update(real_fid(images, [it["expect"] for it in items]))
    if misses is not None:
        records = miss_records(items, verdicts, seed)
        Path(misses).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                encoding="utf-8")
        result.update({"misses": len(records), "misses_file": str(misses)})
    return result


def miss_records(items: Sequence[dict], verdicts: Sequence[jd.Verdict], seed: int) -> list[dict]:
    """One record per prompt the judge found wrong: its index, image seed, prompt and the
    wrong attributes as ``{attribute: [asked, read]}`` ("none": the judge found none)."""
    records = []
    for index, (item, verdict) in enumerate(zip(items, verdicts, strict=True)):
        got = verdict.attributes
        wrong = {a: [v, got.get(a)] for a, v in item["expect"].items() if got.get(a) != v}
        if wrong:
            records.append({"index": index, "seed": seed + index, "prompt": item["prompt"],
                            "wrong": wrong})
    return records


def real_fid(images: Sequence, expected: Sequence[dict]) -> dict:
    """FID of ``images`` against renders of the scenes they should show (toy-CLIP features)."""
    from recipes.evaluation import metrics
    from recipes.toy import world as toyworld

    base = ("shape", "color", "position", "size", "background")
    if not all(set(base) <= set(e) for e in expected):
        raise ValueError("FID needs every item's 'expect' to name all five attributes")
    scenes = [toyworld.Scene(**{k: e[k] for k in base}) for e in expected]
    real = [toyworld.render(s, seed=i) for i, s in enumerate(scenes)]
    # The floor: the same scenes rendered again with other jitter seeds.
    again = [toyworld.render(s, seed=10_000 + i) for i, s in enumerate(scenes)]
    features = metrics.ToyClipFeatures()
    return {"fid": round(metrics.fid(real, images, features), 3),
            "fid_real_vs_real": round(metrics.fid(real, again, features), 3),
            "fid_features": metrics.FEATURES_NAME}
