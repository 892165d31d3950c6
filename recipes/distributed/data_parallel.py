"""Data parallel generation: one prompt list split over processes started by torchrun.

The parent (``generate-many``) writes a job file and either calls :func:`run_job`
in-process (one process) or launches ``python -m torch.distributed.run -m
recipes.distributed.data_parallel JOB`` (several). Each worker joins the process
group through accelerate's ``PartialState``, takes its contiguous slice of the
prompts with ``split_between_processes``, generates one image per prompt with
its own generator seeded ``seed + line index`` (batch 1, so an image does not
depend on how the list was split), and ``gather_object`` brings every image to
rank 0, which writes the PNGs and a ``ranks.json`` report into the job folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

JOB_FILE = "job.json"
REPORT_FILE = "ranks.json"


class WorldSizeError(RuntimeError):
    """The process group is smaller than torchrun said: each rank would do all the work."""


def shard_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """Start and end (exclusive) of ``rank``'s slice of ``n`` items over ``world`` ranks.

    The same arithmetic as accelerate's ``split_between_processes``: ``divmod(n,
    world)`` items each, the first ``n % world`` ranks take one more.
    """
    per, extra = divmod(n, world)
    start = rank * per + min(rank, extra)
    return start, start + per + (1 if rank < extra else 0)


def trim_padded(gathered: list, n: int, world: int) -> list:
    """Undo ``apply_padding=True``: drop the copies of the last item each short rank added.

    With padding every rank returns ``ceil(n / world)`` items; rank ``r``'s real
    ones are the first ``end - start`` of its block (see :func:`shard_bounds`).
    """
    block = -(-n // world)
    if len(gathered) != block * world:
        raise ValueError(f"expected {block * world} gathered items, got {len(gathered)}")
    out = []
    for rank in range(world):
        start, end = shard_bounds(n, world, rank)
        out.extend(gathered[rank * block: rank * block + end - start])
    return out


def check_world_size(num_processes: int, environ: dict | None = None) -> None:
    """Raise ``WorldSizeError`` unless the process group has ``WORLD_SIZE`` members.

    On a machine without a GPU, a plain ``PartialState()`` under torchrun does not
    join the process group: every rank believes it is alone and generates every
    image. ``PartialState(cpu=True)`` is the fix; this check catches any other way
    of getting it wrong.
    """
    environ = os.environ if environ is None else environ
    expected = int(environ.get("WORLD_SIZE", "1"))
    if num_processes != expected:
        raise WorldSizeError(
            f"torchrun started {expected} processes but this one sees a world of "
            f"{num_processes}: on a CPU-only machine use PartialState(cpu=True) "
            "(a plain PartialState() would let every rank generate everything)")


def start_state(device: str):
    """The accelerate ``PartialState`` for ``device`` ("cpu": gloo, "cuda": NCCL), checked."""
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    check_world_size(state.num_processes)
    return state


def generate_one(pipe, prompt: str, seed: int, job: dict):
    """One image for one prompt with its own generator (batch 1: independent of the split)."""
    from recipes.pipelines.generate import generators

    return pipe(prompt, num_inference_steps=job["steps"], guidance_scale=job["guidance"],
                generator=generators([seed], pipe.device)[0], height=job["size"],
                width=job["size"]).images[0]


def _load(job: dict, device: str):
    from recipes.pipelines.models import load_pipeline
    from recipes.pipelines.schedulers import set_scheduler

    pipe = load_pipeline(job["model"], device=device)
    return set_scheduler(pipe, job["scheduler"]) if job.get("scheduler") else pipe


def _write_report(folder: Path, images: list, report: dict) -> None:
    for index, array in images:
        from PIL import Image

        Image.fromarray(array).save(folder / f"{index:05d}.png")
    (folder / REPORT_FILE).write_text(json.dumps(report), encoding="utf-8")


def run_job(folder: str | Path) -> dict:
    """Run the job in ``folder/job.json`` as this process's rank; rank 0 writes the results.

    Works unchanged in one plain process (world of 1) and under torchrun.
    Returns the report (rank 0) or this rank's own figures (others).
    """
    import numpy as np
    import torch

    folder = Path(folder)
    job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    torch.set_num_threads(job["threads"])
    distributed = "LOCAL_RANK" in os.environ
    if distributed:
        device = "cuda" if job["device"] == "cuda" else "cpu"
        state = start_state(device)
        rank, world, device = state.process_index, state.num_processes, str(state.device)
    else:
        state, rank, world, device = None, 0, 1, job["device"]
    t_load = time.perf_counter()
    pipe = _load(job, device)
    load_s = time.perf_counter() - t_load
    prompts = job["prompts"]
    indices = list(range(len(prompts)))
    if state is not None:
        state.wait_for_everyone()  # time generation only, from a common start
    t0 = time.perf_counter()
    if state is not None:
        with state.split_between_processes(indices) as mine:
            mine = list(mine)
    else:
        mine = indices
    start, end = shard_bounds(len(prompts), world, rank)
    assert mine == indices[start:end], (mine, start, end)
    print(f"[rank {rank}/{world}] {device}, {torch.get_num_threads()} threads, "
          f"lines {start}..{end - 1} ({len(mine)} images), load {load_s:.1f} s", flush=True)
    images = [(i, np.asarray(generate_one(pipe, prompts[i], job["seed"] + i, job)))
              for i in mine]
    gen_s = time.perf_counter() - t0
    t_gather = time.perf_counter()
    if state is not None:
        from accelerate.utils import gather_object

        images = gather_object(images)  # rank order: the slices are contiguous
        stats = gather_object([{"rank": rank, "images": len(mine), "generate_s": gen_s,
                                "load_s": load_s}])
    else:
        stats = [{"rank": 0, "images": len(mine), "generate_s": gen_s, "load_s": load_s}]
    gather_s = time.perf_counter() - t_gather
    seconds = time.perf_counter() - t0
    if rank != 0:
        return stats[rank]
    if [i for i, _ in images] != indices:
        raise RuntimeError("gathered images are not one per prompt in order")
    report = {"n_images": len(prompts), "processes": world,
              "per_rank": [s["images"] for s in stats], "seconds": round(seconds, 3),
              "images_per_second": round(len(prompts) / seconds, 3),
              "gather_seconds": round(gather_s, 4),
              "rank_generate_seconds": [round(s["generate_s"], 3) for s in stats],
              "load_seconds": round(max(s["load_s"] for s in stats), 3),
              "threads_per_process": job["threads"], "device": device}
    _write_report(folder, images, report)
    return report


def probe(cpu: bool) -> int:
    """Print what ``PartialState(cpu=cpu)`` sees on this rank; the world-size guard decides.

    ``torchrun ... -m recipes.distributed.data_parallel --probe plain`` shows the
    CPU pitfall (each rank sees a world of 1, exit 2); ``--probe cpu`` the fix.
    """
    from accelerate import PartialState

    state = PartialState(cpu=cpu)
    print(f"[rank {os.environ.get('RANK', '0')} of WORLD_SIZE={os.environ.get('WORLD_SIZE', '1')}]"
          f" PartialState(cpu={cpu}): num_processes={state.num_processes}, "
          f"distributed_type={state.distributed_type.value}, backend={state.backend}",
          flush=True)
    check_world_size(state.num_processes)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Worker entry point for torchrun: ``-m recipes.distributed.data_parallel JOB_FOLDER``
    (or ``--probe plain|cpu``, see :func:`probe`)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[0] == "--probe":
            return probe(cpu=argv[1] == "cpu")
        run_job(argv[0])
        _leave_together()
    except WorldSizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


def _leave_together() -> None:
    """Barrier before ``destroy_process_group`` on a clean finish.

    Rank 1 has nothing to do after the gather while rank 0 writes the images;
    tearing gloo down on one rank while its peer is still busy aborted the
    early rank once in a CI run ("terminate called without an active
    exception", SIGABRT, torch 2.13). With the barrier both ranks destroy their
    process group after every message has been exchanged.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


if __name__ == "__main__":
    raise SystemExit(main())
