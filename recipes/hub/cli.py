"""``python -m recipes mirror``: serve a model folder through a local olah mirror."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from recipes.course.cli_args import UsageError


def _cmd_mirror(args: argparse.Namespace) -> int:
    from recipes.hub.mirror import MirrorError, OlahMirror, build_mirror_repo
    from recipes.pipelines.models import resolve

    source = Path(resolve(args.model))
    if not (source / "model_index.json").is_file():
        raise UsageError(f"--model {args.model!r}: no model_index.json in {source}; "
                         "give 'toy', 'toy-zh' or a local diffusers folder")
    with tempfile.TemporaryDirectory(prefix="recipes-mirror-") as tmp:
        try:
            _repo, commit = build_mirror_repo(source, Path(tmp) / "mirrors", args.repo_id)
            mirror = OlahMirror(Path(tmp) / "mirrors", Path(tmp) / "olah", port=args.port,
                                probe_repo=args.repo_id).start()
        except MirrorError as exc:
            raise UsageError(str(exc)) from None
        try:
            print(f"olah serves {args.repo_id} (commit {commit[:12]}) at {mirror.url}")
            print(f"  export HF_ENDPOINT={mirror.url}   # then: hf download {args.repo_id}")
            print("Ctrl-C stops it.", flush=True)
            while mirror.running:
                time.sleep(0.5)
            print("olah stopped by itself; log:\n" + mirror.log_text()[-2000:])
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            mirror.stop()


def register(sub) -> None:
    """Add the ``mirror`` command."""
    p = sub.add_parser(
        "mirror", help="serve a model through a local olah mirror on 127.0.0.1",
        description="Build a git repo of the model and serve it with olah (offline mode) on "
                    "127.0.0.1; point HF_ENDPOINT at it. Example: python -m recipes mirror "
                    "--model toy --port 8090")
    p.add_argument("--model", default="toy",
                   help="model folder to serve: 'toy', 'toy-zh' or a path (default: toy; "
                        "e.g. --model toy-zh)")
    p.add_argument("--repo-id", default="course/toy",
                   help="the id clients ask for "
                        "(default: course/toy; e.g. --repo-id course/toy-zh)")
    p.add_argument("--port", type=int, default=8090,
                   help="port on 127.0.0.1 (default: 8090; e.g. --port 18090)")
    p.set_defaults(func=_cmd_mirror)
