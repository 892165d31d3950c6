"""``python -m recipes generate-many``: one PNG per prompt line, over N processes."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipes.course.cli_args import HelpFormatter, UsageError, add_model_args, check_request

MAX_PROCESSES = 64


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a JSONL file: each line ``{"prompt": "..."}`` or a JSON string.

    Raises ``UsageError`` naming the line for a missing file, an empty list, a
    line that is not JSON, a blank line between prompts or an object without
    ``prompt``. Line ``i`` (from 0) becomes image ``i``.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--prompts {str(path)!r}: no such file; write one JSON object per "
                         'line, e.g. {"prompt": "a large red circle on the left"}')
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--prompts {str(path)!r} is not UTF-8 text") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UsageError(f"--prompts {str(path)!r} has no prompts: write one JSON object per "
                         'line, e.g. {"prompt": "a large red circle on the left"}')
    prompts = []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if isinstance(item, dict) and set(item) == {"prompt"}:
            item = item["prompt"]
        if not isinstance(item, str):
            raise UsageError(f"--prompts line {number}: expected "
                             '{"prompt": "..."} or a JSON string, got ' + repr(line[:60]))
        prompts.append(item)
    return prompts


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for torchrun's master)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(n: int, job_folder: str | Path, port: int) -> list[str]:
    """The torchrun command line that starts ``n`` data-parallel workers on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
            "--nnodes", "1", "--master_addr", "127.0.0.1", "--master_port", str(port),
            "-m", "recipes.distributed.data_parallel", str(job_folder)]


def _publish(staging: Path, out: Path, n: int) -> None:
    """Move the finished PNGs from the staging folder into ``out`` (never half a set)."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        os.replace(staging / f"{i:05d}.png", out / f"{i:05d}.png")


def _cmd_generate_many(args: argparse.Namespace) -> int:
    from recipes.course.device import pick_device

    if not 1 <= args.processes <= MAX_PROCESSES:
        raise UsageError(f"--processes must be from 1 to {MAX_PROCESSES}, got {args.processes}")
    cores = os.cpu_count() or 1
    threads = args.threads if args.threads is not None else max(1, cores // args.processes)
    if not 1 <= threads <= 256:
        raise UsageError(f"--threads must be from 1 to 256, got {threads}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} is a file: give a folder name")
    prompts = read_prompts(args.prompts)
    check_request(args, prompts, size=args.size)
    device = args.device or pick_device()
    if args.processes > 1 and device not in ("cpu", "cuda"):
        raise UsageError(f"--processes > 1 runs on cpu (gloo) or cuda (NCCL), not {device}")
    if device == "cuda":
        import torch

        if args.processes > torch.cuda.device_count():
            raise UsageError(f"--processes {args.processes} > {torch.cuda.device_count()} GPUs")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    from recipes.pipelines.schedulers import canonical

    job = {"prompts": [p.strip() for p in prompts], "model": args.model, "steps": args.steps,
           "guidance": args.guidance, "seed": args.seed, "size": args.size,
           "scheduler": canonical(args.scheduler) if args.scheduler else None,
           "device": device, "threads": threads}
    from recipes.distributed.data_parallel import JOB_FILE, REPORT_FILE, run_job
    from recipes.evaluation.monitor import Monitor

    (staging / JOB_FILE).write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    t0 = time.perf_counter()
    try:
        if args.processes == 1:
            import torch

            before = torch.get_num_threads()
            with Monitor(children=False, interval=0.1) as mon:
                run_job(staging)
            torch.set_num_threads(before)
        else:
            # An explicit OMP_NUM_THREADS also silences torchrun's "set to 1" warning.
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            cmd = torchrun_command(args.processes, staging, free_port())
            proc = subprocess.Popen(cmd, env=env)
            try:
                mon = Monitor(proc.pid, interval=0.1).start()
                proc.wait()
                mon.stop()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    proc.wait()
            if proc.returncode != 0:
                print(f"error: the {args.processes} workers failed (exit {proc.returncode}); "
                      "their messages are above, nothing was written to --out", file=sys.stderr)
                return 2
        summary = json.loads((staging / REPORT_FILE).read_text(encoding="utf-8"))
        _publish(staging, out, len(prompts))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.update(wall_seconds=round(time.perf_counter() - t0, 3),
                   peak_rss_mb_total=mon.peaks()["peak_rss_mb"], out=str(out))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def register(sub) -> None:
    """Add the ``generate-many`` command."""
    p = sub.add_parser(
        "generate-many", help="one image per prompt of a JSONL file, over N processes",
        formatter_class=HelpFormatter,
        description="Generate one PNG per line of --prompts (OUT/00000.png for line 0, ...). "
                    "With --processes N > 1 the lines are split over N workers started by "
                    "torchrun on 127.0.0.1 (gloo on CPU, NCCL on CUDA); image i always uses "
                    "seed + i at batch size 1, so the images do not depend on N. Every prompt "
                    "is checked before any worker starts. The last stdout line is a JSON "
                    "summary: n_images, processes, per_rank, seconds (generation, after "
                    "loading), images_per_second, wall_seconds (whole command), "
                    "peak_rss_mb_total (all processes).",
        epilog="examples:\n"
               "  printf '%s\\n' '{\"prompt\": \"a large red circle on the left\"}' "
               "'\"a small blue square\"' > prompts.jsonl\n"
               "  python -m recipes generate-many --prompts prompts.jsonl --out imgs "
               "--processes 2 --steps 10")
    p.add_argument("--prompts", required=True,
                   help='JSONL file, one {"prompt": "..."} or JSON string per line '
                        "(required), e.g. prompts.jsonl")
    p.add_argument("--out", required=True,
                   help="folder for the PNGs (required), e.g. imgs; created if missing")
    p.add_argument("--processes", type=int, default=1,
                   help="worker processes, e.g. 2; 1 runs in this process, more start torchrun")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per process, e.g. 1 (default: CPU cores // --processes)")
    p.add_argument("--size", type=int, default=64,
                   help="height = width in pixels, a multiple of 8, e.g. 64")
    add_model_args(p)
    p.set_defaults(func=_cmd_generate_many)
