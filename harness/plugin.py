"""The pytest plugin (registered through the `pytest11` entry point): `pytest suites/ --image NAME`.

Options live in one group (the target options are declared once in harness.target_options, shared with
the CLI); they are validated in `pytest_configure`, so a bad option is one line before anything slow
starts. The run's `HarnessSession` (harness.session) lives in `config.stash[SESSION]`; the fixtures below
are how tests reach it. What a suite may import is listed in harness.suite_api.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from harness import hookspec, target_options
from harness.checks.image_server import MediaServer, serve_address
from harness.checks.openai_calls import ServerFacts
from harness.errors import HarnessError
from harness.results import RunRecorder
from harness.server.endpoint import Endpoint
from harness.server.launch import TargetOptions
from harness.server.transport import FreshAfterServerError
from harness.session import SESSION, HarnessSession
from harness.spec.variant import default_images_dir
from harness.suite_api import BootAnother

# the markers the harness gives suites, declared here only
MARKERS = {
    "requires": "requires(*capabilities): run only when the target has all these capabilities (else skipped)",
    "load": "load: a load test (minutes of traffic); runs only when -m names it, e.g. -m load",
    "disruptive": "disruptive: stops the server under test; runs only when -m names it "
                  "(e.g. -m 'disruptive or not disruptive'), after every other test",
    "slow": "slow: boots a second server or otherwise takes minutes; on by default, deselect with -m 'not slow'",
    "media": "media: boots the video and audio variants (cpu-tiny-av, cpu-tiny-audio); runs only when -m names it "
             "(-m media)",
    "pooling": "pooling: builds and boots the pooling variants (cpu-tiny-pooling, -rerank, -classify); runs only when "
               "-m names it (-m pooling)",
}
OPT_IN_MARKERS = ("load", "disruptive", "media", "pooling")
# an identifier of pytest's -m grammar (_pytest.mark.expression); and/or/not are its keywords
_IDENT = re.compile(r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+")


def named_markers(markexpr: str) -> set[str]:
    """The marker names a -m expression mentions: 'not load' names load, 'download' does not."""
    return set(_IDENT.findall(markexpr)) - {"and", "or", "not"}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vllm-harness", "vllm-image-harness: which server the suites test")
    target_options.add(group.addoption)
    group.addoption("--image-host", default=target_options.env_default("VLLM_HARNESS_IMAGE_HOST"), metavar="HOST",
                    help="an address of this machine where the server under test can fetch test media over http "
                         "('docker': the Docker bridge, as host.docker.internal; the default for --runtime docker)")
    group.addoption("--strict-upstream", action="store_true",
                    help="apply none of the known upstream vLLM deviations (harness/spec/upstream_issues.toml): "
                         "raw OpenAI conformance")
    group.addoption("--run-dir", type=Path, default=None, metavar="PATH",
                    help="write this run's folder here (default: a new one under REPORTS_DIR/runs/)")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    options = TargetOptions(
        images_dir=Path(config.getoption("images_dir") or default_images_dir()).resolve(),
        reports_dir=Path(config.getoption("reports_dir")), image=config.getoption("image"),
        base_url=config.getoption("base_url"), model=config.getoption("model"),
        api_key=config.getoption("api_key"), capabilities=config.getoption("capabilities"),
        runtime=config.getoption("runtime"), rebuild=config.getoption("rebuild"),
        startup_timeout=config.getoption("startup_timeout"), build_args=tuple(config.getoption("build_arg")))
    try:
        options.check()
        session = HarnessSession(config, options, run_dir=config.getoption("run_dir"))
    except HarnessError as exc:
        # one line and the harness's own exit code (2 for a usage error), not pytest's 4 with its usage text
        pytest.exit(f"vllm-harness: {exc}", returncode=exc.exit_code)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "vllm-harness-session")


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash.get(SESSION, None)
    if session is None:
        return []
    o = session.options
    target = (f"{o.base_url} (already running)" if o.base_url else
              f"{o.image} ({o.runtime})" if o.image else "none (only tests without a server can run)")
    run_dir = config.getoption("run_dir")
    where = f"run folder {run_dir}" if run_dir else f"runs written under {o.reports_dir / 'runs'}"
    return [f"vllm-harness: target {target}; {where}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Load and disruptive tests are opt-in: without a -m expression that names their marker, they are
    deselected. Disruptive ones (they stop the server) run after all others."""
    named = named_markers(config.getoption("markexpr") or "")
    for marker in OPT_IN_MARKERS:
        if marker in named:
            continue
        dropped = [item for item in items if item.get_closest_marker(marker)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)  # stable: order kept


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _harness_session(pytestconfig: pytest.Config) -> HarnessSession:
    """Internal: tests reach the session through the fixtures below."""
    return pytestconfig.stash[SESSION]


@pytest.fixture(scope="session")
def endpoint(_harness_session: HarnessSession) -> Endpoint:
    """The running server under test (built and booted on first use, removed at the end)."""
    return _harness_session.endpoint()


@pytest.fixture(scope="session")
def api(endpoint: Endpoint) -> Iterator[httpx.Client]:
    """An HTTP client on the server root, with the API key and no retries."""
    with endpoint.client() as client:
        yield client


@pytest.fixture(scope="session")
def server(_harness_session: HarnessSession) -> ServerFacts:
    """What checks adapt to, decided once: vLLM or not (its extensions are sent only to vLLM), the
    context length. Every check asks this, never the server directly."""
    return _harness_session.facts()


@pytest.fixture(scope="session")
def record(_harness_session: HarnessSession) -> RunRecorder:
    """The run folder's writer (e.g. `record.answer(GreedyAnswer(...))`)."""
    return _harness_session.record()


@pytest.fixture(scope="session")
def run_dir(record: RunRecorder) -> Path:
    """This run's folder (reports/runs/<run>): a suite writes its own files inside it."""
    return record.dir


@pytest.fixture(scope="session")
def boot_another(_harness_session: HarnessSession, endpoint: Endpoint) -> BootAnother:
    """`with boot_another(extra_env, "suffix") as second:` the variant booted again beside the first, with
    extra server env (docker runtime only: skips otherwise); removed when the block ends."""
    return _harness_session.boot_another


@pytest.fixture(scope="session")
def media_server(endpoint: Endpoint, pytestconfig: pytest.Config) -> Iterator[MediaServer]:
    """Serves test media over http where the server under test can fetch it; skips when nobody said where."""
    runtime = endpoint.runtime
    if endpoint.stack is not None:  # replicas of a stack reach the host as containers do, unless offline
        if endpoint.stack.offline:
            pytest.skip("the serving containers are offline (internal network): they cannot fetch http media")
        runtime = "docker"
    address = serve_address(runtime, pytestconfig.getoption("image_host"))
    if address is None:
        pytest.skip("http media URLs need --image-host HOST: an address of this machine the server can reach")
    with MediaServer(address) as server:
        yield server


@pytest.fixture(scope="session")
def openai_client(endpoint: Endpoint) -> Iterator[openai.OpenAI]:
    """The official client, as users' code talks to the server: its own parsing rules, no retries."""
    http = httpx.Client(timeout=120.0, transport=FreshAfterServerError())  # see harness.server.transport
    with openai.OpenAI(base_url=endpoint.v1_url, api_key=endpoint.api_key or "EMPTY", max_retries=0,
                       timeout=120.0, http_client=http) as client, http:
        yield client
