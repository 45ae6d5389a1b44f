from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from harness.server.endpoint import Endpoint
from harness.server.engine import connect
from harness.server.labels import SESSION, SESSION_ID

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]

# Several tests press Ctrl-C on the processes they start (SIGINT). A shell script that runs the tests as a
# background job (`... &`) makes them ignore SIGINT, and an ignored signal is inherited through exec; a
# handled one is not. So SIGINT is handled here, and the processes the tests start can be interrupted.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """The real engine. Integration tests fail (never skip) without one: CI must run them."""
    client = connect()
    yield client
    # nothing this test session started may survive it
    leftovers = client.containers.list(all=True, filters={"label": f"{SESSION}={SESSION_ID}"})
    for container in leftovers:
        container.remove(force=True)
    assert not leftovers, f"tests left containers behind: {[c.name for c in leftovers]}"


@pytest.fixture
def make_variant(tmp_path: Path) -> Callable[..., Path]:
    """Copy the stub variant into a fresh images dir under a given name, optionally editing its spec;
    returns the images dir."""
    images = tmp_path / "images"

    def make(name: str = "stub", extra_args: list[str] | None = None, startup_timeout: float = 60) -> Path:
        target = images / name
        shutil.copytree(FIXTURES / "stub-variant", target)
        spec = (target / "variant.toml").read_text()
        if extra_args:
            spec = spec.replace('served_model_name = "stub"',
                                f'served_model_name = "stub"\nextra_args = {extra_args!r}'.replace("'", '"'))
        spec = spec.replace("startup_timeout = 60", f"startup_timeout = {startup_timeout}")
        (target / "variant.toml").write_text(spec)
        return images

    return make


@pytest.fixture(scope="session")
def cpu_tiny(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Endpoint]:
    """One real cpu-tiny server (real vLLM) shared by the tests that prove the suites' checks: they run
    the suites against it directly, and through tests/defects proxies that break it on purpose. It needs
    `docker_client` so that it is removed before that fixture checks for leftovers."""
    with launched(tmp_path_factory, "cpu-tiny") as endpoint:
        yield endpoint


@contextmanager
def launched(tmp_path_factory: pytest.TempPathFactory, image: str,
             images_dir: Path = REPO / "images") -> Iterator[Endpoint]:
    """A shipped variant (or one in `images_dir`) built and booted the way `pytest suites/ --image NAME`
    does; removed on exit."""
    from harness.progress import LogProgress
    from harness.results import RunRecorder
    from harness.server.launch import TargetOptions, launch, terminate_as_interrupt

    reports = tmp_path_factory.mktemp(f"{image}-reports")
    options = TargetOptions(images_dir=images_dir, reports_dir=reports, image=image)
    recorder = RunRecorder(reports, image)
    progress = LogProgress(recorder.dir / "build.log", show=print)
    try:
        # a cancelled CI job (SIGTERM) unwinds like Ctrl-C: the server is removed, not left for `reap`
        with terminate_as_interrupt(), launch(options, recorder, progress) as endpoint:
            yield endpoint
    finally:
        progress.close()
