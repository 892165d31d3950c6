"""How much did the free-English distillation move the images of template prompts? (issue 16)

Generates the first N prompts of ``results/prompts_en_templates.jsonl`` (written by
``make eval-toy``) with the pre-distillation pipeline (``python -m recipes.toy.en
--teacher-pipeline``) and with the shipped toy, same seed, scheduler, 25 steps,
guidance 7.5, and prints the mean/median/max absolute pixel difference (0-255) and
the share of images whose judge verdict is identical.

    python tools/en_template_drift.py [N]     # default 96, ~1 min on 2 cores
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from recipes.evaluation.evaluate import read_prompts
from recipes.pipelines.generate import generate
from recipes.pipelines.models import load_pipeline
from recipes.toy import en
from recipes.toy import judge as jd

PROMPTS = Path(__file__).resolve().parent.parent / "results" / "prompts_en_templates.jsonl"


def main(n: int = 96) -> dict:
    prompts = [it["prompt"] for it in read_prompts(PROMPTS)[:n]]
    with tempfile.TemporaryDirectory() as tmp:
        before_dir = en.save_teacher_pipeline(Path(tmp) / "before")
        before = generate(load_pipeline(before_dir, device="cpu"), prompts, 0, steps=25,
                          guidance=7.5, batch_size=16)
    after = generate(load_pipeline("toy", device="cpu"), prompts, 0, steps=25, guidance=7.5,
                     batch_size=16)
    diff = [np.abs(np.asarray(a, float) - np.asarray(b, float)).mean()
            for a, b in zip(before, after, strict=True)]
    same = [jd.judge(a).attributes == jd.judge(b).attributes
            for a, b in zip(before, after, strict=True)]
    result = {"n": len(diff), "mean_abs_pixel_diff": round(float(np.mean(diff)), 2),
              "median": round(float(np.median(diff)), 2), "max": round(float(np.max(diff)), 2),
              "same_verdict": sum(same), "of": len(same)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 96)
