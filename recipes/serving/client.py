"""Start, call and stop the image server from Python (notebook, tests, load test).

``ServerProcess`` runs ``python -m recipes serve`` in a subprocess on 127.0.0.1,
waits for ``/healthz``, and always stops it: on ``with`` exit, on ``stop()``, and
at interpreter exit (``atexit``) if a cell failed in between.
"""

from __future__ import annotations

import atexit
import base64
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m recipes serve`` in a subprocess with a fresh random token.

    Keyword arguments become options (``max_batch_size=4`` → ``--max-batch-size 4``).
    ``url`` and ``headers`` (with the bearer token) are ready for ``httpx``; the
    server's output goes to ``log_path`` (read it with ``log()``).
    """

    def __init__(self, model: str = "toy", *, port: int | None = None,
                 startup_timeout: float = 180.0, **options) -> None:
        self.model, self.port = model, port or free_port()
        self.options, self.startup_timeout = options, startup_timeout
        self.token = secrets.token_urlsafe(32)
        self._dir = tempfile.TemporaryDirectory(prefix="recipes-serve-")
        self.token_file = Path(self._dir.name) / "token"
        self.token_file.write_text(self.token + "\n", encoding="utf-8")
        os.chmod(self.token_file, 0o600)
        self.log_path = Path(self._dir.name) / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, wait: bool = True) -> ServerProcess:
        """Start the server; with ``wait`` block until ``/healthz`` answers (see ``wait_ready``)."""
        cmd = [sys.executable, "-m", "recipes", "serve", "--model", self.model,
               "--port", str(self.port), "--token-file", str(self.token_file)]
        for key, value in self.options.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        # own process group: stop() can reach LitServe's worker processes too
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        atexit.register(self.stop)
        return self.wait_ready() if wait else self

    def wait_ready(self) -> ServerProcess:
        """Block until ``/healthz`` answers 200; stop the server and raise with its log if not."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not healthy after {self.startup_timeout:.0f} s:\n{self.log()}")

    def stats(self) -> dict:
        """``GET /v1/stats``: ``in_flight`` (admitted, unanswered), ``admitted`` (since the
        start), ``max_queue``, ``answered`` (count per status)."""
        r = httpx.get(self.url + "/v1/stats", headers=self.headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_admitted(self, total: int, timeout: float = 60.0) -> dict:
        """Block until the server has admitted ``total`` requests since its start; its stats.

        A SIGTERM lets admitted requests finish but closes connections whose request
        the server has not read yet, so "stop while n requests are in flight" must
        wait for this, not sleep: a busy machine reads them late.
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["admitted"] >= total:
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stats['admitted']} of {total} requests admitted after "
                                   f"{timeout:.0f} s: {stats}")
            time.sleep(0.02)

    def stop(self, grace: float = 40.0) -> int | None:
        """SIGTERM (graceful: in-flight requests finish), then SIGKILL the group after ``grace``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:  # leftovers of the group (LitServe's workers), if any survived
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._log.close()
        atexit.unregister(self.stop)
        return self.proc.returncode

    def log(self) -> str:
        """The server's output so far (its last 4000 characters)."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def decode_image(payload: dict):
    """The PIL image in a ``/v1/images`` JSON response."""
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(payload["image_png_base64"]))).convert("RGB")
