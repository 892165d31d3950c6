"""Chapter 10: the olah mirror on 127.0.0.1, the hub cache, and the cache helpers.

One olah server (module fixture) serves the toy model for the download tests and
is stopped at the end, also on failure; the last test checks nothing is left
listening. olah lives in its own venv (`make mirror-env`): without it the tests
that need the server are skipped with that instruction; the rest still run.
Network: loopback only (downloads pass ``endpoint=`` to the local mirror).
"""

import hashlib
import socket
from pathlib import Path

import pytest
from huggingface_hub import constants, hf_hub_download, snapshot_download

from recipes.cli import main
from recipes.hub import cache as hub_cache
from recipes.hub.mirror import (
    MirrorError,
    OlahMirror,
    build_mirror_repo,
    commit_file,
    free_port,
    olah_cli,
)
from recipes.pipelines.models import resolve

TOY = Path(resolve("toy"))
REPO_ID = "course/toy"
needs_olah = pytest.mark.skipif(olah_cli() is None,
                                reason="olah is not installed: run `make mirror-env`")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """(repo_path, first_commit, mirror) with olah running; always stopped afterwards."""
    root = tmp_path_factory.mktemp("hub")
    repo, commit = build_mirror_repo(TOY, root / "mirrors", REPO_ID)
    mirror = OlahMirror(root / "mirrors", root / "olah")
    mirror.start()
    try:
        yield repo, commit, mirror
    finally:
        mirror.stop()


@pytest.fixture
def online(monkeypatch):
    # conftest sets HF_HUB_OFFLINE=1 for the whole session; these tests talk to 127.0.0.1 only
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_mirror_repo_is_deterministic_and_source_untouched(tmp_path):
    before = _digest(TOY)
    repo1, c1 = build_mirror_repo(TOY, tmp_path / "a", REPO_ID)
    _repo2, c2 = build_mirror_repo(TOY, tmp_path / "b", REPO_ID)
    assert c1 == c2 and len(c1) == 40, "fixed author/dates give the same commit everywhere"
    assert repo1 == tmp_path / "a" / "models" / "course" / "toy"
    assert _digest(TOY) == before and not (TOY / ".git").exists()


def test_bad_repo_id_is_one_clear_error(tmp_path):
    with pytest.raises(MirrorError, match="org/name"):
        build_mirror_repo(TOY, tmp_path, "no-slash")


def test_cli_mirror_rejects_a_non_folder(capsys):
    assert main(["mirror", "--model", "nope/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "model_index.json" in err and "\n" not in err


@needs_olah
def test_snapshot_download_through_mirror(mirrored, online, tmp_path):
    _repo, commit, mirror = mirrored
    snap = Path(snapshot_download(REPO_ID, endpoint=mirror.url, cache_dir=tmp_path))
    assert snap.name == commit
    assert _digest(snap) == _digest(TOY), "every file arrives byte for byte"
    link = snap / "unet" / "diffusion_pytorch_model.safetensors"
    assert link.is_symlink() and link.resolve().parent.name == "blobs"
    assert 'GET /api/models/course/toy/revision/main' in mirror.log_text()


@needs_olah
def test_new_commit_moves_main_pinned_revision_stays(mirrored, online, tmp_path):
    repo, c1, mirror = mirrored
    c2 = commit_file(repo, "README.md", "# toy\n", "add card")  # the tests' own temp repo
    main_snap = Path(snapshot_download(REPO_ID, endpoint=mirror.url, cache_dir=tmp_path))
    pinned = Path(snapshot_download(REPO_ID, revision=c1, endpoint=mirror.url,
                                    cache_dir=tmp_path))
    assert main_snap.name == c2 and pinned.name == c1
    assert (main_snap / "README.md").exists() and not (pinned / "README.md").exists()
    blobs = list((tmp_path / "models--course--toy" / "blobs").iterdir())
    assert len(blobs) == len(_digest(TOY)) + 1, "revisions share unchanged blobs"


@needs_olah
def test_truncated_blob_is_found_offline_and_repaired(mirrored, online, tmp_path):
    _repo, _commit, mirror = mirrored
    path = Path(hf_hub_download(REPO_ID, "unet/config.json", endpoint=mirror.url,
                                cache_dir=tmp_path))
    repo_cache = tmp_path / "models--course--toy"
    assert hub_cache.blob_problems(repo_cache) == []
    blob = path.resolve()
    blob.write_bytes(blob.read_bytes()[:100])
    problems = hub_cache.blob_problems(repo_cache)
    assert len(problems) == 1 and "unet/config.json" in problems[0]
    assert "force_download=True" in problems[0] and "\n" not in problems[0]
    hf_hub_download(REPO_ID, "unet/config.json", endpoint=mirror.url, cache_dir=tmp_path,
                    force_download=True)
    assert hub_cache.blob_problems(repo_cache) == []


def test_blob_problems_checks_sha256_names(tmp_path):
    repo_cache = tmp_path / "models--x--y"
    (repo_cache / "blobs").mkdir(parents=True)
    good = b"weights"
    (repo_cache / "blobs" / hashlib.sha256(good).hexdigest()).write_bytes(good)
    (repo_cache / "blobs" / hashlib.sha256(b"other").hexdigest()).write_bytes(b"othe")
    (repo_cache / "blobs" / ("0" * 64 + ".incomplete")).write_bytes(b"partial")
    problems = hub_cache.blob_problems(repo_cache)
    assert len(problems) == 1 and "(no snapshot uses it)" in problems[0]


def test_cache_tree_and_disk_usage(tmp_path):
    blobs, snap = tmp_path / "blobs", tmp_path / "snapshots" / ("a" * 40)
    blobs.mkdir()
    snap.mkdir(parents=True)
    (blobs / ("b" * 40)).write_bytes(b"x" * 1000)
    (snap / "model.safetensors").symlink_to(Path("../..") / "blobs" / ("b" * 40))
    tree = hub_cache.cache_tree(tmp_path)
    assert "model.safetensors -> ../../blobs/bbbbbbbbbbbb…" in tree and "blobs/" in tree
    assert hub_cache.disk_usage(tmp_path) == (1000, 2000)


@needs_olah
def test_start_failure_is_reported_and_nothing_keeps_running(tmp_path):
    with socket.socket() as busy:  # the port is taken: olah must fail, and say so
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        mirror = OlahMirror(tmp_path / "mirrors", tmp_path / "olah", port=busy.getsockname()[1])
        with pytest.raises(MirrorError, match="olah"):
            mirror.start(timeout=20)
    assert not mirror.running and mirror.process is None


@needs_olah
def test_mirror_listens_on_loopback_only_and_stops(mirrored):
    _repo, _commit, mirror = mirrored
    assert mirror.url.startswith("http://127.0.0.1:") and mirror.running
    assert 'host = "127.0.0.1"' in mirror.config_path.read_text()
    mirror.stop()
    mirror.stop()  # idempotent
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", mirror.port)) != 0, "nothing listens after stop()"


def test_free_port_is_free():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
