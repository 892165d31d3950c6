"""A real Hugging Face mirror on 127.0.0.1: olah serving the toy model from a git repository.

olah (https://github.com/vtuber-plan/olah) is a self-hosted Hub mirror. With
``offline = true`` and ``mirrors-path`` it answers the Hub's HTTP API from plain
git repositories on disk, so ``HF_ENDPOINT=http://127.0.0.1:PORT`` makes
``snapshot_download`` and ``from_pretrained`` fetch from it exactly as from
huggingface.co or hf-mirror.com.

Why olah has its own virtual environment: every olah release depends on
``fastapi-utils``, whose every release requires ``psutil<6``, while the course's
IPython (9.x) requires ``psutil>=7``. The two cannot share one environment, so
olah is installed pipx-style into a venv of its own (pins in
``olah-requirements.txt`` beside this file) and only runs as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("olah-requirements.txt")
# Fixed author and dates make the mirror repository's commit hash the same on every
# machine and every run, so a pinned revision in the notebook stays valid.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "diffusers-recipes-zh", "GIT_AUTHOR_EMAIL": "course@localhost",
    "GIT_COMMITTER_NAME": "diffusers-recipes-zh", "GIT_COMMITTER_EMAIL": "course@localhost",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000",
}


class MirrorError(RuntimeError):
    """The local mirror could not be set up or started; the message says what to do."""


def olah_venv() -> Path:
    """Return the folder of olah's own virtual environment.

    ``RECIPES_OLAH_VENV`` overrides it. Inside a virtual environment (``make``'s
    ``.venv``) it is ``<venv>/olah``, so it is ignored by git and removed with the
    course's venv; elsewhere (Colab) ``~/.cache/diffusers-recipes-zh/olah-venv``.
    """
    if os.environ.get("RECIPES_OLAH_VENV"):
        return Path(os.environ["RECIPES_OLAH_VENV"])
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "olah"
    return Path.home() / ".cache" / "diffusers-recipes-zh" / "olah-venv"


def olah_cli() -> Path | None:
    """Return the ``olah-cli`` executable to use, or ``None`` when olah is not installed.

    Looks in :func:`olah_venv` first, then on ``PATH`` (e.g. ``pipx install olah``).
    """
    candidate = olah_venv() / "bin" / "olah-cli"
    if candidate.is_file():
        return candidate
    found = shutil.which("olah-cli")
    return Path(found) if found else None


def ensure_olah(quiet: bool = True) -> Path:
    """Return ``olah-cli``, installing olah into its own venv first if it is missing.

    The install (about 40 s, from PyPI, once) uses the exact pins in
    ``olah-requirements.txt``; afterwards this returns at once. Raises
    :class:`MirrorError` with the command to run by hand if the install fails.
    """
    cli = olah_cli()
    if cli is not None:
        return cli
    venv = olah_venv()
    hint = f"install olah by hand: make mirror-env (or {sys.executable} -m venv {venv} && " \
           f"{venv}/bin/pip install -r {REQUIREMENTS})"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=quiet)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                        "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
                       check=True, capture_output=quiet)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        raise MirrorError(f"could not install olah ({exc}); {hint}") from None
    cli = olah_cli()
    if cli is None:
        raise MirrorError(f"olah installed but olah-cli not found in {venv}; {hint}")
    return cli


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_ENV}
    out = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false",
                          *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def build_mirror_repo(source: str | Path, mirrors_root: str | Path,
                      repo_id: str = "course/toy") -> tuple[Path, str]:
    """Copy a model folder into a fresh git repository laid out for olah's ``mirrors-path``.

    The repository goes to ``mirrors_root/models/<org>/<name>`` (replaced if it
    exists); ``source`` is only read. Returns ``(repo_path, commit_hash)``; the
    hash is the same on every run because author and dates are fixed.
    """
    if shutil.which("git") is None:
        raise MirrorError("git is not installed; install it (apt-get install git) and retry")
    org, _, name = repo_id.partition("/")
    if not org or not name or "/" in name:
        raise MirrorError(f"repo_id must look like 'org/name', got {repo_id!r}")
    repo = Path(mirrors_root) / "models" / org / name
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(source, repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"{repo_id}: model files")
    return repo, _git(repo, "rev-parse", "HEAD")


def commit_file(repo: str | Path, path: str, text: str, message: str) -> str:
    """Write one text file into a mirror repository, commit it on ``main``; return the new hash."""
    repo = Path(repo)
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text, encoding="utf-8")
    _git(repo, "add", path)
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OlahMirror:
    """Run ``olah-cli`` on 127.0.0.1 in offline mode, serving the git repos under ``mirrors_root``.

    Use as a context manager (the server is always stopped, also on errors)::

        with OlahMirror(mirrors, workdir) as mirror:
            snapshot_download("course/toy", endpoint=mirror.url)

    ``workdir`` receives the config, olah's own cache (``repos``) and its log.
    """

    def __init__(self, mirrors_root: str | Path, workdir: str | Path, port: int | None = None,
                 probe_repo: str = "course/toy") -> None:
        self.mirrors_root = Path(mirrors_root).resolve()
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.probe_repo = probe_repo
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "olah.log"
        self.config_path = self.workdir / "olah.toml"
        self.process: subprocess.Popen | None = None

    def write_config(self) -> Path:
        """Write the TOML config olah reads (loopback only, offline, local mirrors)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f'repos-path = "{self.workdir / "repos"}"\n'
            f'mirrors-path = ["{self.mirrors_root}"]\n'
            "metadata-cache-ttl = 0\n"  # a new commit on main is visible at once
            "\n[accessibility]\n"
            "offline = true\n", encoding="utf-8")
        return self.config_path

    def start(self, timeout: float = 60.0) -> OlahMirror:
        """Start olah and wait until it answers for ``probe_repo``; raise MirrorError if not."""
        cli = ensure_olah()
        self.write_config()
        log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self._log = log
        self.process = subprocess.Popen(
            [str(cli), "-c", str(self.config_path), "--log-path", str(self.workdir / "logs")],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        probe = f"{self.url}/api/models/{self.probe_repo}/revision/main"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise MirrorError(f"olah exited with code {code} (is port {self.port} taken?); "
                                  f"log:\n{self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(probe, timeout=2) as resp:  # noqa: S310 (loopback)
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise MirrorError(f"olah did not answer {probe} within {timeout:.0f} s; "
                          f"log:\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s); safe to call twice."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """Everything olah has written to its log so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.is_file() else ""

    def __enter__(self) -> OlahMirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
