"""The pytest plugin (registered through the `pytest11` entry point): `pytest suites/ --image NAME`.

Options live in one group; they are validated in `pytest_configure`, so a bad option is one line before
anything slow starts. One `HarnessSession` per run owns the target: it builds and boots on first use,
records every test outcome as it happens, attaches the server log to failing tests, and removes
whatever it started at the end of the session (also on Ctrl-C, SIGTERM and failures).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
import pytest

from harness.endpoint import Endpoint
from harness.errors import HarnessError, UsageError
from harness.history import verdict
from harness.image_server import MediaServer, serve_address
from harness.launch import RUNTIMES, TargetOptions, launch, terminate_as_interrupt
from harness.openai_calls import ServerFacts, probe
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.transport import FreshAfterServerError
from harness.upstream_marks import UpstreamMarks
from harness.variant import Capabilities, capability_names, default_images_dir, variant_names

ENDPOINT_FIXTURES = {"endpoint", "api", "openai_client"}


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(text)
    return value


def _build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. VLLM_VERSION=v0.15.0), got '{text}'")
    return key.strip(), value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vllm-harness", "vllm-image-harness: which server the suites test")
    group.addoption("--image", default=os.environ.get("VLLM_HARNESS_IMAGE"), metavar="NAME",
                    help="image variant under images/ to build, boot and test (env VLLM_HARNESS_IMAGE)")
    group.addoption("--base-url", default=os.environ.get("VLLM_HARNESS_BASE_URL"), metavar="URL",
                    help="test a server that is already running (its root or /v1 URL)")
    group.addoption("--model", default=None, help="with --base-url: the served model name (default: the first)")
    group.addoption("--api-key", default=os.environ.get("VLLM_HARNESS_API_KEY"),
                    help="with --base-url: the server's API key (env VLLM_HARNESS_API_KEY; never logged)")
    group.addoption("--capabilities", default=None, metavar="LIST",
                    help=f"with --base-url: what the server can do, e.g. chat,vision,multi_image=4 "
                         f"(known: {', '.join(capability_names())})")
    group.addoption("--runtime", choices=RUNTIMES, default="docker", help="how --image is run (docker)")
    group.addoption("--images-dir", type=Path, default=None, help="the variant folders (default ./images)")
    group.addoption("--reports-dir", type=Path, default=Path("reports"), help="where runs are written (./reports)")
    group.addoption("--rebuild", action="store_true", help="rebuild the image even if its content is unchanged")
    group.addoption("--build-arg", type=_build_arg, action="append", default=[], metavar="KEY=VALUE",
                    help="a build arg over the variant's build.args, e.g. VLLM_VERSION=v0.15.0 (repeatable)")
    group.addoption("--startup-timeout", type=_positive_float, default=None, metavar="SECONDS",
                    help="override the variant's container.startup_timeout")
    group.addoption("--image-host", default=os.environ.get("VLLM_HARNESS_IMAGE_HOST"), metavar="HOST",
                    help="an address of this machine where the server under test can fetch test media over http "
                         "('docker': the Docker bridge, as host.docker.internal; the default for --runtime docker)")
    group.addoption("--strict-upstream", action="store_true",
                    help="apply none of the known upstream vLLM deviations (harness/upstream_issues.toml): "
                         "raw OpenAI conformance")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*capabilities): needs these capabilities of the target variant")
    config.addinivalue_line("markers", "load: a load test (minutes of traffic); runs only when -m selects it, "
                                       "e.g. -m load")
    config.addinivalue_line("markers", "disruptive: stops the server under test; runs only when -m selects it "
                                       "(e.g. -m 'disruptive or not disruptive'), after every other test")
    images_dir = config.getoption("images_dir") or default_images_dir()
    options = TargetOptions(
        images_dir=Path(images_dir).resolve(), reports_dir=Path(config.getoption("reports_dir")),
        image=config.getoption("image"), base_url=config.getoption("base_url"), model=config.getoption("model"),
        api_key=config.getoption("api_key"), capabilities=config.getoption("capabilities"),
        runtime=config.getoption("runtime"), rebuild=config.getoption("rebuild"),
        startup_timeout=config.getoption("startup_timeout"), build_args=tuple(config.getoption("build_arg")))
    try:
        options.check()
        session = HarnessSession(config, options)
    except HarnessError as exc:
        # one line and the harness's own exit code (2 for a usage error), not pytest's 4 with its usage text
        pytest.exit(f"vllm-harness: {exc}", returncode=exc.exit_code)
    config.pluginmanager.register(session, "vllm-harness-session")


OPT_IN_MARKERS = ("load", "disruptive", "media")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Load, disruptive and media (booting the video/audio variants) tests are opt-in: without a -m
    expression that names their marker, they are deselected. Disruptive ones (they stop the server) run after all others."""
    for marker in OPT_IN_MARKERS:
        if marker in (config.getoption("markexpr") or ""):
            continue
        dropped = [item for item in items if item.get_closest_marker(marker)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)  # stable: order kept


class HarnessSession:
    """The run's one owner of the target server."""

    def __init__(self, config: pytest.Config, options: TargetOptions) -> None:
        self.config = config
        self.options = options
        self.variant = options.variant()
        self.capabilities = (Capabilities.parse(options.capabilities) if options.capabilities
                             else self.variant.capabilities if self.variant else None)
        self.recorder: RunRecorder | None = None
        self._stack = ExitStack()
        self._endpoint: Endpoint | None = None
        self._facts: ServerFacts | None = None
        self._boot_error: str | None = None
        self.upstream = UpstreamMarks.for_run(self.variant, strict=config.getoption("strict_upstream"))

    # --- showing progress from inside a fixture, past pytest's output capture -------------------

    def _show(self, message: str) -> None:
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"[vllm-harness] {message}")
        else:
            reporter.write_line(f"[vllm-harness] {message}")

    # --- the target --------------------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        if self._endpoint is not None:
            return self._endpoint
        if self._boot_error is not None:
            pytest.fail(f"the target did not start (see the first error): {self._boot_error}", pytrace=False)
        recorder = self._recorder()
        progress = LogProgress(recorder.dir / "build.log", show=self._show)
        self._stack.callback(progress.close)
        self._stack.enter_context(terminate_as_interrupt())
        try:
            self._endpoint = self._stack.enter_context(launch(self.options, recorder, progress))
        except UsageError as exc:  # e.g. an unreachable --base-url: nothing any test can do about it
            recorder.update(boot_error=str(exc))
            pytest.exit(f"vllm-harness: {exc}", returncode=exc.exit_code)
        except HarnessError as exc:
            self._boot_error = str(exc)
            recorder.update(boot_error=str(exc))
            tail = getattr(exc, "log_tail", "")
            pytest.fail(f"{exc}" + (f"\n--- last lines of the log ---\n{tail}" if tail else ""), pytrace=False)
        return self._endpoint

    def facts(self) -> ServerFacts:
        """What checks adapt to (vLLM and its version, context length), probed once per run."""
        if self._facts is None:
            endpoint = self.endpoint()
            spec = endpoint.variant.serve.max_model_len if endpoint.variant else None
            with endpoint.client() as client:
                self._facts = probe(client, endpoint.model, spec)
            self.upstream.learn(self._facts.vllm_version,
                                endpoint.variant.build.vllm_version if endpoint.variant else None)
            if self.recorder is not None:
                self.recorder.update(server_version=self._facts.vllm_version,
                                     upstream_applied=[d.id for d in self.upstream.applied])
        return self._facts

    def _recorder(self) -> RunRecorder:
        if self.recorder is None:
            try:
                self.recorder = RunRecorder(self.options.reports_dir, self.options.label)
            except HarnessError as exc:
                pytest.exit(str(exc), returncode=exc.exit_code)
        return self.recorder

    # --- hooks --------------------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        needs_server = [i for i in items if ENDPOINT_FIXTURES & set(getattr(i, "fixturenames", ()))]
        if needs_server and not self.options.has_target:
            known = ", ".join(variant_names(self.options.images_dir)) or "(none found)"
            pytest.exit(f"vllm-harness: {len(needs_server)} test(s) need a server: pass --image NAME "
                        f"(variants: {known}) or --base-url URL", returncode=UsageError.exit_code)
        for item in items:
            for marker in item.iter_markers("requires"):
                missing = [c for c in marker.args if self.capabilities is None or not self.capabilities.has(c)]
                if missing:
                    item.add_marker(pytest.mark.skip(reason=f"target lacks capability: {', '.join(missing)}"))
            for issue in self.variant.known_issues if self.variant else ():
                if fnmatch.fnmatchcase(item.name, issue.check) or fnmatch.fnmatchcase(item.nodeid, issue.check):
                    # strict: the day a bump fixes it, the run fails with XPASS(strict) and says so
                    reason = f"known issue of {self.variant.name}: {issue.reason}" + (
                        f" ({issue.link})" if issue.link else "")
                    item.add_marker(pytest.mark.xfail(strict=True, reason=reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.recorder is None or (report.when != "call" and report.outcome == "passed"):
            return
        record = {"test": report.nodeid, "phase": report.when, "outcome": report.outcome,
                  "seconds": round(report.duration, 4), "verdict": verdict(report)}
        if report.failed or report.skipped:
            record["detail"] = (report.longreprtext or "").strip().splitlines()[-1:] if report.longrepr else []
        if report.user_properties:  # what a check found worth reporting, e.g. the server's error shape
            record["properties"] = dict(report.user_properties)
        self.recorder.append(record)

    # tryfirst: the outermost wrapper, so it sees the report after pytest's own xfail handling
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if self._endpoint is not None and item.get_closest_marker("xfail") is None:  # a variant's own come first
            try:
                self.facts()
            except httpx.HTTPError:  # the server is gone: nothing is known about it, nothing is excused
                pass
            else:
                self.upstream.judge(item, report)
        if report.failed and self._endpoint is not None:
            tail = self._endpoint.log_tail(40)
            if tail:
                report.sections.append(("server log (last 40 lines)", tail))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.upstream.summarise(terminalreporter)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._close()

    def _close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._endpoint = None
            if self.recorder is not None:
                self.recorder.finish()


# --- fixtures ---------------------------------------------------------------------------------------


def _session(config: pytest.Config) -> HarnessSession:
    plugin = config.pluginmanager.get_plugin("vllm-harness-session")
    assert isinstance(plugin, HarnessSession)
    return plugin


@pytest.fixture(scope="session")
def endpoint(pytestconfig: pytest.Config) -> Endpoint:
    """The running server under test (built and booted on first use, removed at the end)."""
    return _session(pytestconfig).endpoint()


@pytest.fixture(scope="session")
def api(endpoint: Endpoint) -> Iterator[httpx.Client]:
    """An HTTP client on the server root, with the API key and no retries."""
    with endpoint.client() as client:
        yield client


@pytest.fixture(scope="session")
def server(pytestconfig: pytest.Config) -> ServerFacts:
    """What checks adapt to, decided once: vLLM or not (its extensions are sent only to vLLM), the
    context length. Every check asks this, never the server directly."""
    return _session(pytestconfig).facts()


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
    http = httpx.Client(timeout=120.0, transport=FreshAfterServerError())  # see harness.transport
    with openai.OpenAI(base_url=endpoint.v1_url, api_key=endpoint.api_key or "EMPTY", max_retries=0,
                       timeout=120.0, http_client=http) as client, http:
        yield client
