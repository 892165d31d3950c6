"""Where in the schedule does a LoRA lose its concept? (issue 19)

Renders the true scenes of ``--n`` concept prompts (``make eval-lora``'s set,
optionally only one ``--size``), then lets the pipeline with the adapter
*redraw* each render with img2img (SDEdit) from ``strength`` x 1000 training
timesteps (25 steps, guidance 7.5, seed i per prompt), and judges the concept's
attribute (shape for star, style for ink) after each strength; text to image
and the renders themselves are the two ends. A strength where the attribute
survives means the adapter can finish the concept from there; where it drops,
the adapter loses it. ``recipes.lora.train.MID_T`` comes from this.

    .venv/bin/python tools/lora_redraw.py --concept star --size small
"""

from __future__ import annotations

import argparse
import json

import torch

ATTRIBUTE = {"star": "shape", "ink": "style"}


def redraw(concept: str = "star", n: int = 100, size: str | None = "small",
           strengths: tuple[float, ...] = (0.3, 0.5, 0.7, 0.8, 0.9), lora: str | None = None,
           batch: int = 8) -> dict:
    from diffusers import StableDiffusionImg2ImgPipeline

    from recipes.lora.load import apply_loras, resolve_specs
    from recipes.lora.prompts import concept_items
    from recipes.pipelines.generate import generate
    from recipes.pipelines.models import load_pipeline
    from recipes.toy import judge
    from recipes.toy import world as tw

    pipe = load_pipeline("toy", device="cpu", dtype=torch.float32)
    apply_loras(pipe, resolve_specs([lora or concept]))
    pipe.set_progress_bar_config(disable=True)
    items = [it for it in concept_items(concept, n, 0)
             if size is None or it["expect"]["size"] == size]
    prompts, expect = [it["prompt"] for it in items], [it["expect"] for it in items]
    key = ATTRIBUTE[concept]

    def right(images) -> float:
        return round(judge.score(images, expect)["per_attribute"][key], 3)

    renders = [tw.render(tw.Scene(**e), seed=i) for i, e in enumerate(expect)]
    out = {"concept": concept, "size": size, "prompts": len(items), "attribute": key,
           "renders": right(renders),
           "text_to_image": right(generate(pipe, prompts, 0, batch_size=batch))}
    i2i = StableDiffusionImg2ImgPipeline.from_pipe(pipe)
    i2i.set_progress_bar_config(disable=True)
    for s in strengths:
        images = []
        for k in range(0, len(prompts), batch):
            part = prompts[k:k + batch]
            images += i2i(part, image=renders[k:k + batch], strength=s, num_inference_steps=25,
                          guidance_scale=7.5,
                          generator=[torch.Generator().manual_seed(k + j)
                                     for j in range(len(part))]).images
        out[f"strength {s}"] = right(images)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", choices=sorted(ATTRIBUTE), default="star")
    parser.add_argument("--n", type=int, default=100, help="concept prompts before --size")
    parser.add_argument("--size", choices=("small", "large", "any"), default="small")
    parser.add_argument("--lora", default=None, help="adapter (default: the shipped one)")
    parser.add_argument("--strengths", default="0.3,0.5,0.7,0.8,0.9")
    args = parser.parse_args(argv)
    print(json.dumps(redraw(args.concept, args.n, None if args.size == "any" else args.size,
                            tuple(float(s) for s in args.strengths.split(",")), args.lora)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
