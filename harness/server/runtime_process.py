"""The process runtime: the variant's serve command as a local subprocess, for hosts without Docker
(and for GPU hosts where the server is installed natively)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from harness.errors import BootError
from harness.server.docker_run import container_environment
from harness.server.serve_command import serve_args
from harness.server.server import ManagedServer
from harness.server.wait import ExitStatus
from harness.spec.variant import Variant, host_path

STOP_GRACE_SECONDS = 15


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ProcessServer(ManagedServer):
    """Runs `process.command` + the serve arguments, from the variant's folder."""

    runtime = "process"

    def __init__(self, variant: Variant, run_dir: Path, *, api_key: str | None = None,
                 startup_timeout: float | None = None, port: int | None = None) -> None:
        super().__init__(variant, run_dir, api_key=api_key, startup_timeout=startup_timeout)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        spec = self.variant.process
        command = spec.resolved_command(self.variant.build.args, self.variant.folder)
        model = host_path(spec.model, self.variant.folder, "process.model") if spec.model else None
        if spec.args is not None:
            values = {"model": model or self.variant.serve.model, "host": "127.0.0.1", "port": self.port}
            return [*command, *(arg.format(**values) for arg in spec.args)]
        return [*command, *serve_args(self.variant.serve, port=self.port, host="127.0.0.1", model=model)]

    def environment(self, host_env: dict[str, str]) -> dict[str, str]:
        """The host's environment, the variant's [env], then [process] env (the chosen vLLM environment)."""
        process_env = self.variant.process.resolved_env(self.variant.build.args, self.variant.folder)
        return {**host_env, **container_environment(self.variant, host_env, self.api_key), **process_env}

    @property
    def description(self) -> str:
        pid = self.process.pid if self.process else "not started"
        return f"process {pid} ({self.variant.name})"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self) -> None:
        env = self.environment(dict(os.environ))
        try:
            # its own session: stopping it stops its children too (vLLM's engine core is one)
            self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env, cwd=self.variant.folder,
                                            start_new_session=True)
        except OSError as exc:
            raise BootError(f"cannot run {self.argv[0]!r} for {self.variant.name}: {exc.strerror}; install it, "
                            "or set process.command in the variant spec") from None
        stdout = self.process.stdout
        assert stdout is not None
        self._follow_log(iter(lambda: stdout.read1(65536), b""))

    def exit_status(self) -> ExitStatus | None:
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        # a SIGKILL we did not send is most often the kernel's OOM killer, but nothing here proves it
        detail = "killed by SIGKILL (out of memory?)" if code == -signal.SIGKILL else ""
        return ExitStatus(code=code, detail=detail)

    def _stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self.process = None
