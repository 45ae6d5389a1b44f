"""The timed server in several processes on one port (benchmarks/load_capacity.py's --server-processes):
every process answers, and stopping the server stops all of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _stream(port: int) -> dict[str, float]:
    body = json.dumps({"model": "timed", "prompt": "x", "max_tokens": 2, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body)
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            more = sock.recv(65536)
            assert more, f"the server closed mid-answer: {data!r}"
            data += more
    first = data.split(b"data: ", 2)[1].split(b"\n", 1)[0]
    return json.loads(first)


def test_processes_share_one_port_and_all_stop() -> None:
    server = subprocess.Popen([sys.executable, "-u", "-m", "harness.load.timed_server", "--port", "0", "--processes",
                               "3", "--ttft-ms", "1", "--itl-ms", "1"], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "(3 processes) on http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 3, children
        chunk = _stream(port)
        assert chunk["choices"][0]["text"] == "tok " and chunk["x_sent"] >= chunk["x_recv"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}")]  # the parent reaps them before it exits
    assert not alive, f"server processes left running: {alive}"
