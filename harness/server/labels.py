"""Who owns a container: every container and network the harness starts carries these labels, so a
reaper can find leftovers even after `kill -9`, and never touch anything that is not the harness's or
that belongs to a run that is still alive."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

PREFIX = "io.vllm-harness"
SESSION = f"{PREFIX}.session"
OWNER = f"{PREFIX}.owner"  # host:pid:process-start-time of the run that started it
VARIANT = f"{PREFIX}.variant"
HARNESS_VERSION = f"{PREFIX}.version"

SESSION_ID = uuid.uuid4().hex[:12]  # one per harness process


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; with the pid it identifies a process even
    after its pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: fields are counted after its closing ')'
    return stat.rsplit(")", 1)[1].split()[19]


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or '?'}"


def owner_is_alive(token: str) -> bool:
    """True when the process named by `token` still runs here, or lives on another host (not ours to judge)."""
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    if not pid_text.isdigit():
        return False
    current = _start_time(int(pid_text))
    return current is not None and (started in ("?", current))


def labels_for(variant: str) -> dict[str, str]:
    from harness import __version__

    return {
        SESSION: SESSION_ID,
        OWNER: owner_token(),
        VARIANT: variant,
        HARNESS_VERSION: __version__,
    }
