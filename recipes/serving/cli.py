"""``python -m recipes serve``: the LitServe image server on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from recipes.course.cli_args import UsageError


def read_token(path: str | Path) -> str:
    """The bearer token from the first line of ``path`` (never printed)."""
    token = Path(path).read_text(encoding="utf-8").strip().splitlines()
    if not token or len(token[0].strip()) < 16:
        raise UsageError(f"token file {path} must hold a secret of at least 16 characters, "
                         "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))' > F")
    return token[0].strip()


_MAIN_PID = os.getpid()


def _interrupt(signum, frame):
    # LitServe's run() treats KeyboardInterrupt as "shut down": uvicorn then stops
    # accepting, finishes the requests it holds, and the inference worker is stopped.
    # The forked HTTP process inherits this handler; uvicorn re-raises SIGTERM there
    # after its own graceful exit, which needs nothing more.
    if os.getpid() == _MAIN_PID:
        raise KeyboardInterrupt


def _cmd_serve(args: argparse.Namespace) -> int:
    from recipes.serving.api import build_server

    if not 1024 <= args.port <= 65535:
        raise UsageError(f"--port must be 1024-65535, got {args.port}")
    if args.max_batch_size < 1 or args.batch_timeout < 0 or args.max_queue < 1:
        raise UsageError("--max-batch-size and --max-queue must be >= 1, --batch-timeout >= 0")
    server = build_server(args.model, token=read_token(args.token_file),
                          max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout,
                          max_queue=args.max_queue, max_body=args.max_body,
                          accelerator=args.accelerator)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"serving {args.model} on http://127.0.0.1:{args.port}/v1/images "
          f"(max_batch_size={args.max_batch_size}, batch_timeout={args.batch_timeout})",
          flush=True)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False,
               log_level=args.log_level)
    return 0


def register(sub) -> None:
    """Add the ``serve`` command."""
    p = sub.add_parser("serve", help="serve text-to-image over HTTP on 127.0.0.1 (LitServe)",
                       description="POST /v1/images with 'Authorization: Bearer <token>' and "
                       'JSON {"prompt": ...}; GET /healthz. Example: python -m recipes serve '
                       "--model toy-zh --port 8008 --token-file token.txt")
    p.add_argument("--model", default="toy",
                   help="'toy', 'toy-zh', a folder or a Hub id (default: toy; e.g. --model toy-zh)")
    p.add_argument("--port", type=int, default=8008,
                   help="port on 127.0.0.1 (default: 8008; e.g. --port 9000)")
    p.add_argument("--token-file", required=True,
                   help="file whose first line is the bearer token (required; e.g. token.txt)")
    p.add_argument("--max-batch-size", type=int, default=4,
                   help="requests per pipeline call at most (default: 4; 1 turns batching off)")
    p.add_argument("--batch-timeout", type=float, default=0.05,
                   help="seconds to wait for a batch to fill (default: 0.05; e.g. 0.2)")
    p.add_argument("--max-queue", type=int, default=32,
                   help="admitted requests at most; more get 503 + Retry-After (default: 32)")
    p.add_argument("--max-body", type=int, default=16_384,
                   help="largest request body in bytes; more gets 413 (default: 16384)")
    p.add_argument("--accelerator", default="auto",
                   help="cpu, cuda, mps or auto (default: auto; e.g. --accelerator cpu)")
    p.add_argument("--log-level", default="warning",
                   help="uvicorn log level (default: warning; e.g. info to log each request line)")
    p.set_defaults(func=_cmd_serve)
