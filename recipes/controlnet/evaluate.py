"""Measure control adherence and prompt accuracy on random toy scenes (the chapter-05 bar).

``python -m recipes.controlnet.evaluate --n 100 --steps 25`` renders ``n``
random scenes, turns each into its condition, generates at each conditioning
scale with a prompt that names only the colour and background ("a red shape on
a black background", so outline and place can only come from the control), and
reports object-mask IoU with the control region, edge F1, and the judge's
accuracy on the prompt's colour and background. Scale 0 is the base model (the
ControlNet adds nothing). ``--drawn N`` adds N held-out user-style drawings
(random polygons, stars, blobs, letters sketched as strokes, through Canny as
``--control-preprocess canny`` does): IoU of the object with the filled outline.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from recipes.controlnet import conditions as cc


def evaluate_control(pipe, prompts: Sequence[str], conds: Sequence, masks: Sequence[np.ndarray],
                     scenes: Sequence, *, steps: int = 25, scale: float = 1.0, seed: int = 0,
                     batch: int = 10, progress: bool = False, **call) -> dict:
    """Generate one image per control at ``scale`` and score adherence and colour/background.

    Image i uses seed ``seed + i``. Extra keyword arguments go to the pipeline
    call (``guess_mode``, ``control_guidance_end`` ...). Returns the means and the
    images (``images`` key) so a notebook can show them.
    """
    from recipes.pipelines.generate import generators
    from recipes.toy import judge

    images = []
    for i in tqdm(range(0, len(prompts), batch), disable=not progress, leave=False,
                  desc=f"scale {scale:g}"):
        images += pipe(list(prompts[i:i + batch]), image=list(conds[i:i + batch]),
                       num_inference_steps=steps, controlnet_conditioning_scale=scale,
                       generator=generators(range(seed + i, seed + i + len(prompts[i:i + batch])),
                                            pipe.device), **call).images
    ious = [cc.iou(cc.object_mask(im), m) for im, m in zip(images, masks, strict=True)]
    f1s = [cc.edge_f1(cc.canny(im), cc.canny(m.astype(np.uint8) * 255))
           for im, m in zip(images, masks, strict=True)]
    verdicts = [judge.judge(im).attributes for im in images]
    hit = {a: [v[a] == getattr(s, a) for v, s in zip(verdicts, scenes, strict=True)]
           for a in ("color", "background", "shape", "position")}
    return {"n": len(images), "scale": scale, "steps": steps,
            "iou": float(np.mean(ious)), "edge_f1": float(np.mean(f1s)),
            **{f"{a}_acc": float(np.mean(h)) for a, h in hit.items()},
            "ious": ious, "images": images}


def evaluate_drawn(pipe, prompts: Sequence[str], conds: Sequence, masks: Sequence[np.ndarray],
                   meta: Sequence[tuple[str, str, str]], *, steps: int = 25, scale: float = 1.0,
                   seed: int = 0, **call) -> dict:
    """Score drawn outlines: IoU of the object with the filled outline, colour/background accuracy.

    ``meta`` holds (colour, background, kind) per drawing (``drawn_eval_set``).
    Returns the means, the per-drawing IoUs and kinds, and the images.
    """
    from recipes.pipelines.generate import generators
    from recipes.toy import judge

    images = pipe(list(prompts), image=list(conds), num_inference_steps=steps,
                  controlnet_conditioning_scale=scale,
                  generator=generators(range(seed, seed + len(prompts)), pipe.device),
                  **call).images
    ious = [cc.iou(cc.object_mask(im), m) for im, m in zip(images, masks, strict=True)]
    verdicts = [judge.judge(im).attributes for im in images]
    return {"n": len(images), "scale": scale, "steps": steps, "iou": float(np.mean(ious)),
            "color_acc": float(np.mean([v["color"] == m[0] for v, m in zip(verdicts, meta,
                                                                            strict=True)])),
            "background_acc": float(np.mean([v["background"] == m[1]
                                             for v, m in zip(verdicts, meta, strict=True)])),
            "ious": [round(x, 3) for x in ious], "kinds": [m[2] for m in meta],
            "images": images}


def main(argv: list[str] | None = None) -> int:
    """Command line: print (and optionally save) the bar measurement as JSON."""
    from recipes.controlnet.load import condition_of, load_controlnet
    from recipes.controlnet.train import controlnet_pipeline, drawn_eval_set, eval_set
    from recipes.pipelines.models import load_pipeline

    p = argparse.ArgumentParser(description="ControlNet adherence on random toy scenes")
    p.add_argument("--controlnet", default="toy-canny", help="default: toy-canny")
    p.add_argument("--model", default="toy", help="default: toy")
    p.add_argument("--n", type=int, default=100, help="scenes (default: 100)")
    p.add_argument("--steps", type=int, default=25, help="denoising steps (default: 25)")
    p.add_argument("--scales", default="0,1", help="comma-separated scales (default: 0,1)")
    p.add_argument("--seed", type=int, default=2024, help="scene seed (default: 2024)")
    p.add_argument("--guidance", type=float, default=7.5,
                   help="classifier-free guidance scale (default: 7.5, the pipeline's)")
    p.add_argument("--prompt", choices=("color", "full"), default="color",
                   help="color: colour + background only; full: the scene's caption "
                        "(default: color), e.g. --prompt full")
    p.add_argument("--drawn", type=int, default=0,
                   help="also score N held-out drawn outlines (default: 0), e.g. --drawn 20")
    p.add_argument("--out", type=Path, default=None, help="write the JSON here (default: no)")
    args = p.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = controlnet_pipeline(load_pipeline(args.model, device=device, dtype=torch.float32),
                               load_controlnet(args.controlnet, device=device,
                                               dtype=torch.float32))
    prompts, conds, masks, scenes = eval_set(args.n, condition_of(args.controlnet) or "canny",
                                             seed=args.seed, prompt=args.prompt)
    rows, drawn = [], []
    for scale in (float(s) for s in args.scales.split(",")):
        r = evaluate_control(pipe, prompts, conds, masks, scenes, steps=args.steps, scale=scale,
                             progress=True, guidance_scale=args.guidance)
        rows.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                     if k not in ("images", "ious")})
        if args.drawn:
            d = evaluate_drawn(pipe, *drawn_eval_set(args.drawn), steps=args.steps, scale=scale,
                               guidance_scale=args.guidance)
            drawn.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()
                          if k != "images"})
    result = {"controlnet": args.controlnet, "model": args.model, "seed": args.seed,
              "guidance": args.guidance, "prompt": args.prompt, "example_prompt": prompts[0],
              "rows": rows}
    if drawn:
        result["drawn"] = drawn
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
