"""Serve the playground as a standalone page with Voilà on 127.0.0.1 (``make playground``).

Voilà runs ``recipes/playground/app.ipynb`` (one cell: ``Playground()``) in a fresh
kernel per visitor and shows only its outputs: no code (``strip_sources``) and no
tracebacks sent to the browser. It needs no ``--allow-root`` and never opens a browser,
so it works the same as root in a container and on a headless machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.ipynb")


def voila_command(port: int = 8866, ip: str = "127.0.0.1") -> list[str]:
    """The ``voila`` command line that serves the playground page on ``ip:port``."""
    voila = Path(sys.executable).with_name("voila")
    return [str(voila), str(APP), "--no-browser", f"--port={port}", f"--Voila.ip={ip}",
            "--show_tracebacks=False", "--strip_sources=True"]


def url(port: int, ip: str = "127.0.0.1") -> str:
    """Where the page is: ``http://ip:port/``."""
    return f"http://{ip}:{port}/"


def main(argv: list[str] | None = None) -> int:
    """Print the URL, then replace this process with Voilà (Ctrl+C stops it)."""
    parser = argparse.ArgumentParser(description="Serve the playground page with Voilà.")
    parser.add_argument("--port", type=int, default=8866,
                        help="port on 127.0.0.1 (default 8866), e.g. --port 8870")
    args = parser.parse_args(argv)
    cmd = voila_command(args.port)
    if not Path(cmd[0]).exists():
        print("error: voila is not installed: run `pip install -e '.[playground]'` "
              "(or `make setup`)", file=sys.stderr)
        return 2
    print(f">> playground: open {url(args.port)} (Ctrl+C stops it)", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
