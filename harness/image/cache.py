"""Where the harness keeps what it downloads and stages between runs, and the content hash that
decides whether something must be made again."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("VLLM_HARNESS_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vllm-harness"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(*parts: object) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tree_digest(folder: Path, skip: Iterable[str] = (), skip_paths: Iterable[str] = ()) -> str:
    """Hash of every file's relative path and bytes under `folder`, except the names in `skip` and the
    relative paths matching a pattern of `skip_paths` (fnmatch)."""
    skipped, patterns = set(skip), tuple(skip_paths)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.name in skipped or "__pycache__" in path.parts or any(fnmatch(rel, pat) for pat in patterns):
            continue
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold an exclusive lock on `name` across processes: two runs that need the same wheelhouse or
    base image wait for each other instead of writing the same folder at once."""
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
