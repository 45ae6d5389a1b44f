"""Boot, readiness, failure and teardown through the real Docker engine, with the stub server image
(built from the same locally bootstrapped base as cpu-tiny)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest

from harness.errors import ContainerExited, ReadinessTimeout
from harness.image.build import build_variant
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.server.labels import SESSION, SESSION_ID, VARIANT
from harness.server.launch import TargetOptions, launch

pytestmark = pytest.mark.integration


def options(images: Path, tmp_path: Path, **kw: object) -> TargetOptions:
    return TargetOptions(images_dir=images, reports_dir=tmp_path / "reports", image="stub", **kw)  # type: ignore[arg-type]


def ours(client: docker.DockerClient) -> list[str]:
    """This test session's stub containers (the shared cpu-tiny of other tests may be running too)."""
    labels = [f"{SESSION}={SESSION_ID}", f"{VARIANT}=stub"]
    return [c.id for c in client.containers.list(all=True, filters={"label": labels})]


def boot(opts: TargetOptions, tmp_path: Path):  # type: ignore[no-untyped-def]
    recorder = RunRecorder(tmp_path / "reports", "stub")
    return recorder, launch(opts, recorder, LogProgress(recorder.dir / "build.log", show=print))


def test_boot_serve_and_remove(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_SECRET", "s3cr3t-value-123")
    recorder, server = boot(options(make_variant(), tmp_path), tmp_path)
    with server as endpoint:
        assert endpoint.base_url.startswith("http://127.0.0.1:")
        models = httpx.get(f"{endpoint.v1_url}/models").json()
        assert [m["id"] for m in models["data"]] == ["stub"]
        (container_id,) = ours(docker_client)
        container = docker_client.containers.get(container_id)
        bindings = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings), "published beyond loopback"
    assert ours(docker_client) == [], "the container outlived the context"
    log = (recorder.dir / "server.log").read_text()
    assert "serving stub" in log
    assert "s3cr3t-value-123" not in log and "secret seen: ***" in log
    run = recorder.run
    assert run.image.id.startswith("sha256:") and run.image.size_bytes > 0
    assert run.ready_seconds > 0


def test_exit_during_startup_fails_fast_with_code_and_log(docker_client: docker.DockerClient,
                                                          make_variant: Callable[..., Path], tmp_path: Path) -> None:
    images = make_variant(extra_args=["--ready-after", "600", "--exit-after", "1", "--exit-code", "7"],
                          startup_timeout=300)
    _, server = boot(options(images, tmp_path), tmp_path)
    started = time.monotonic()
    with pytest.raises(ContainerExited) as info, server:
        pass
    assert time.monotonic() - started < 60, "the wait did not notice the exit"
    assert "exit code 7" in str(info.value)
    assert "dying with exit code 7" in info.value.log_tail
    assert ours(docker_client) == []


def test_readiness_timeout_carries_reason_and_removes(docker_client: docker.DockerClient,
                                                      make_variant: Callable[..., Path], tmp_path: Path) -> None:
    images = make_variant(extra_args=["--ready-after", "600"], startup_timeout=4)
    _, server = boot(options(images, tmp_path), tmp_path)
    with pytest.raises(ReadinessTimeout, match="answered 503") as info, server:
        pass
    assert "serving stub" in info.value.log_tail
    assert ours(docker_client) == []


def test_unchanged_variant_is_not_rebuilt(docker_client: docker.DockerClient, make_variant: Callable[..., Path],
                                          tmp_path: Path) -> None:
    images = make_variant()
    from harness.spec.variant import load_variant

    progress = LogProgress(None, show=lambda _: None)
    first = build_variant(docker_client, load_variant(images, "stub"), progress)
    again = build_variant(docker_client, load_variant(images, "stub"), progress)
    assert again.cached and again.ref == first.ref and again.build_seconds == 0.0
    # serve settings are not build inputs; the server's code is
    spec = images / "stub" / "variant.toml"
    spec.write_text(spec.read_text().replace('model = "stub-model"', 'model = "other-model"'))
    assert build_variant(docker_client, load_variant(images, "stub"), progress).ref == first.ref
    (images / "stub" / "stub_server.py").write_text((images / "stub" / "stub_server.py").read_text() + "\n# edit\n")
    changed = build_variant(docker_client, load_variant(images, "stub"), progress)
    assert changed.ref != first.ref and not changed.cached
    docker_client.images.remove(changed.ref)


def test_process_runtime_serves_and_stops(make_variant: Callable[..., Path], tmp_path: Path) -> None:
    recorder, server = boot(options(make_variant(), tmp_path, runtime="process"), tmp_path)
    with server as endpoint:
        assert endpoint.runtime == "process"
        assert httpx.get(f"{endpoint.base_url}/health").status_code == 200
        url = endpoint.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)
    assert "serving stub" in (recorder.dir / "server.log").read_text()
