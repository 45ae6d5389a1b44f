"""`HarnessSession`: the pytest run's one owner of the target and the only writer of its run folder.

Created by the plugin in `pytest_configure` and kept in `config.stash[SESSION]`; fixtures hand its parts
to tests (`endpoint`, `server`, `run_dir`, `record`, `boot_another`), so no test looks a plugin up by name.
It builds and boots on first use, records every test outcome as it happens, attaches the server log to
failing tests, and removes whatever it started at the end of the session (also on Ctrl-C, SIGTERM and
failures).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from harness.checks.openai_calls import ServerFacts, probe
from harness.errors import HarnessError, UsageError
from harness.progress import LogProgress
from harness.results import RunRecorder, history_file
from harness.results.outcome import outcome
from harness.server.endpoint import Endpoint
from harness.server.launch import TargetOptions, launch, terminate_as_interrupt
from harness.spec.failure import not_excused, observed
from harness.spec.upstream_marks import UpstreamMarks
from harness.spec.variant import Capabilities, KnownIssue, capability_names, variant_names

ENDPOINT_FIXTURES = {"endpoint", "api", "openai_client"}
SESSION = pytest.StashKey["HarnessSession"]()
KNOWN_ISSUE = pytest.StashKey[KnownIssue]()  # the variant's entry behind an item's strict xfail


class HarnessSession:
    def __init__(self, config: pytest.Config, options: TargetOptions, run_dir: Path | None = None) -> None:
        self.config = config
        self.options = options
        self.variant = options.variant()
        self.capabilities = (Capabilities.parse(options.capabilities) if options.capabilities
                             else self.variant.capabilities if self.variant else None)
        self.recorder: RunRecorder | None = None
        self._run_dir = run_dir
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
        recorder = self.record()
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
        self.config.hook.pytest_harness_ready(config=self.config, endpoint=self._endpoint)
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

    def record(self) -> RunRecorder:
        """The run folder's writer, created on first use (a run that needs no target leaves no folder)."""
        if self.recorder is None:
            try:
                self.recorder = RunRecorder(self.options.reports_dir, self.options.label, run_dir=self._run_dir)
            except HarnessError as exc:
                pytest.exit(f"vllm-harness: {exc}", returncode=exc.exit_code)
        return self.recorder

    @contextmanager
    def boot_another(self, extra_env: tuple[tuple[str, str], ...], suffix: str) -> Iterator[Endpoint]:
        """The variant booted a second time beside the first, with extra server env; its build and server
        logs are filed in a folder inside this run's, which adds no history line."""
        if self.options.base_url or self.options.runtime != "docker":
            pytest.skip("a second boot of the variant needs the docker runtime (not --base-url or process)")
        parent = self.record()
        options = dataclasses.replace(self.options, extra_env=extra_env, reports_dir=parent.dir)
        recorder = RunRecorder(parent.dir, f"{options.label}-{suffix}", history=False)
        progress = LogProgress(recorder.dir / "build.log", show=lambda line: None)
        try:
            with launch(options, recorder, progress) as endpoint:
                yield endpoint
        finally:
            progress.close()
            recorder.finish()

    # --- hooks --------------------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        needs_server = [i for i in items if ENDPOINT_FIXTURES & set(getattr(i, "fixturenames", ()))]
        if needs_server and not self.options.has_target:
            known = ", ".join(variant_names(self.options.images_dir)) or "(none found)"
            pytest.exit(f"vllm-harness: {len(needs_server)} test(s) need a server: pass --image NAME "
                        f"(variants: {known}) or --base-url URL", returncode=UsageError.exit_code)
        known_names = set(capability_names())
        for item in items:
            for marker in item.iter_markers("requires"):
                unknown = [str(c) for c in marker.args if c not in known_names]
                if unknown:
                    pytest.exit(f"vllm-harness: {item.nodeid}: requires({', '.join(map(repr, unknown))}) names no "
                                f"capability; known: {', '.join(sorted(known_names))}",
                                returncode=UsageError.exit_code)
                missing = [c for c in marker.args if self.capabilities is None or not self.capabilities.has(c)]
                if missing:
                    item.add_marker(pytest.mark.skip(reason=f"target lacks capability: {', '.join(missing)}"))
            for issue in self.variant.known_issues if self.variant else ():
                if fnmatch.fnmatchcase(item.name, issue.check) or fnmatch.fnmatchcase(item.nodeid, issue.check):
                    # strict: the day a bump fixes it, the run fails with XPASS(strict) and says so
                    reason = f"known issue of {self.variant.name}: {issue.reason}" + (
                        f" ({issue.link})" if issue.link else "")
                    item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
                    item.stash[KNOWN_ISSUE] = issue

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = outcome(report)
        if self.recorder is not None and found is not None:
            self.recorder.append(found)

    # tryfirst: the outermost wrapper, so it sees the report after pytest's own xfail handling
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
        result = yield
        report: pytest.TestReport = result.get_result()
        issue = item.stash.get(KNOWN_ISSUE, None)
        if issue is not None and self.variant is not None and hasattr(report, "wasxfail") and report.skipped:
            problem = issue.expected.mismatch(observed(report, call))  # pytest's strict xfail excused a failure
            if problem is not None:
                not_excused(item, report, f"known issue '{issue.check}' of {self.variant.name} did not match: "
                                          f"{problem}")
        if self._endpoint is not None and item.get_closest_marker("xfail") is None:  # a variant's own come first
            try:
                self.facts()
            except httpx.HTTPError:  # the server is gone: nothing is known about it, nothing is excused
                pass
            else:
                self.upstream.judge(item, report, observed(report, call))
        if report.failed and self._endpoint is not None:
            tail = self._endpoint.log_tail(40)
            if tail:
                report.sections.append(("server log (last 40 lines)", tail))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.upstream.summarise(terminalreporter)
        if self.recorder is not None:
            terminalreporter.write_sep("-", "vllm-harness")
            terminalreporter.write_line(f"run folder: {self.recorder.dir}")
            if self.recorder.history_line is not None:
                terminalreporter.write_line(f"history: {self.recorder.reports_dir / history_file.FILE}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._close()

    def _close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._endpoint = None
            if self.recorder is not None and not self.recorder.run.finished:
                line = self.recorder.finish()
                self.config.hook.pytest_harness_run_finished(config=self.config, run_dir=self.recorder.dir,
                                                             line=line)
