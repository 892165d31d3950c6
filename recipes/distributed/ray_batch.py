"""Batch generation with Ray Data: ``map_batches`` over actors that each load the pipeline once.

The same code runs on a laptop (``ray.init(num_cpus=2)`` starts a local Ray on
127.0.0.1) and on a cluster (``ray.init(address="auto")`` instead): Ray Data
hands batches of ``{"index", "prompt"}`` rows to ``concurrency`` actors, each
an instance of :class:`PipelinePredictor`, and the images come back as arrays.
Image ``i`` uses seed ``seed + i`` at batch 1, as in ``generate-many``.
"""

from __future__ import annotations

import logging
import time

import numpy as np


class PipelinePredictor:
    """A Ray Data callable class: loads the pipeline in ``__init__`` (once per actor),
    then turns each batch of rows into images in ``__call__``."""

    def __init__(self, model: str = "toy", steps: int = 10, guidance: float = 7.5,
                 seed: int = 0, size: int = 64, threads: int = 1) -> None:
        import torch

        from recipes.pipelines.models import load_pipeline

        torch.set_num_threads(threads)
        self.pipe = load_pipeline(model, device="cpu")
        self.job = {"steps": steps, "guidance": guidance, "size": size}
        self.seed = seed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import os

        from recipes.distributed.data_parallel import generate_one

        images = [np.asarray(generate_one(self.pipe, str(p), self.seed + int(i), self.job))
                  for i, p in zip(batch["index"], batch["prompt"], strict=True)]
        return {"index": batch["index"], "image": np.stack(images),
                "pid": np.full(len(images), os.getpid())}


def ray_generate(prompts: list[str], *, model: str = "toy", steps: int = 10,
                 guidance: float = 7.5, seed: int = 0, concurrency: int = 2,
                 batch_size: int = 1, num_cpus: int = 2) -> tuple[list[np.ndarray], dict]:
    """Generate one image per prompt on a local Ray started here and shut down at the end.

    Returns the images (in prompt order) and a summary: Ray start-up seconds,
    generation seconds (``map_batches`` until every image is back, actor start
    included), images per second and images per actor process.
    """
    import ray
    import ray.data

    t0 = time.perf_counter()
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1", logging_level="ERROR")
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines
        start_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        rows = [{"index": i, "prompt": p} for i, p in enumerate(prompts)]
        ds = ray.data.from_items(rows).map_batches(
            PipelinePredictor, batch_size=batch_size, num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            fn_constructor_kwargs=dict(model=model, steps=steps, guidance=guidance, seed=seed,
                                       threads=max(1, num_cpus // concurrency)))
        out = ds.take_all()
        gen_s = time.perf_counter() - t1
    finally:
        ray.shutdown()
    out.sort(key=lambda row: int(row["index"]))
    pids = [int(row["pid"]) for row in out]
    summary = {"n_images": len(out), "concurrency": concurrency, "batch_size": batch_size,
               "ray_start_seconds": round(start_s, 3), "seconds": round(gen_s, 3),
               "images_per_second": round(len(out) / gen_s, 3),
               "per_actor": sorted((pids.count(p) for p in set(pids)), reverse=True)}
    return [row["image"] for row in out], summary
