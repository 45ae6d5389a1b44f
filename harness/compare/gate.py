"""`vllm-harness gate NAME --from REF --to REF`: the vLLM bump gate as one command.

The variant declares which build arg carries its vLLM version (`[build] vllm_version_arg`, whose current
value is in `build.args`; its Dockerfile uses it, e.g. `FROM vllm/vllm-openai:${VLLM_VERSION}`). The gate
runs rounds interleaved on the same host — A B A B ... — each one pytest session with `--build-arg`
(built once per version, then cached), a fresh boot, the suites and the load suite (the variant's [load]
table); the multimodal process-boundary differential boots its second server as usual. A is compared with B;
A's first round against its others gives the noise floor, and a change no larger than it is not called a
regression. Output: gate.md (for a PR comment) and gate.html in reports/gate/<time>-NAME/; what the
gate cost (its wall time, each round's, each build's) is in gate.json and at the end of gate.md.
`--report-only DIR` renders the report again from a finished gate's runs (other thresholds, a newer harness).

With `--runtime process` nothing is built: the arg fills `{VLLM_VERSION}` in the variant's [process] command
or env, so each side runs from its own environment (e.g. PYTHONPATH = "$VLLM_ENVS/{VLLM_VERSION}").

    reports/gate/<time>-NAME/
        A/runs/<run>/   one pytest run per round of the current version (load-chat/ etc. inside)
        B/runs/<run>/   the same for the candidate
        A/pytest-N.log, A/junit-N.xml, ...
        gate.json, gate.md, gate.html, noise/
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich.console import Console

from harness.commands import run_session
from harness.compare.cli import thresholds_from, write
from harness.compare.decide import CompareVerdict, Comparison, compare
from harness.compare.runs import discover, load_side
from harness.compare.thresholds import Thresholds
from harness.errors import HarnessError, UsageError
from harness.results import append_history, read_run
from harness.results.reader import RUN_FILE, read_model
from harness.spec.variant import Variant, load_variant

SIDES = ("A", "B")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=None, help="the variant to gate")
    p.add_argument("--from", dest="ref_from", default=None, metavar="REF",
                   help="the current vLLM version (default: the variant's build.args value)")
    p.add_argument("--to", dest="ref_to", default=None, metavar="REF", help="the candidate vLLM version (required)")
    p.add_argument("--rounds", type=int, default=3, help="boots per side, interleaved A B A B (>= 2; default 3)")
    p.add_argument("--suites", action="append", default=None, metavar="PATH",
                   help="suite files or folders for pytest (repeatable; default: suites/)")
    p.add_argument("-m", dest="markexpr", default=None,
                   help="pytest -m expression (default: every test, the load suite included)")
    p.add_argument("--no-load", action="store_true", help="leave the load suite out (-m 'not load')")
    p.add_argument("--thresholds", type=Path, default=None, help="compare thresholds, TOML (see `compare`)")
    p.add_argument("--runtime", choices=("docker", "process"), default="docker",
                   help="docker: the version is a build arg; process: it picks the environment the variant's "
                        "[process] command names with {ARG} (default docker)")
    p.add_argument("--report-only", type=Path, default=None, metavar="DIR",
                   help="render gate.md/gate.html again from a finished gate folder; runs nothing")


def version_arg(variant: Variant, runtime: str = "docker") -> str:
    """The variant's vLLM version build arg, checked against what the runtime reads it from: the
    Dockerfile, or (process runtime) the [process] command and env."""
    name = variant.build.vllm_version_arg
    if not name:
        raise UsageError(f"variant {variant.name} declares no vLLM version: add `vllm_version_arg = \"VLLM_VERSION\"` "
                         f"under [build] in {variant.spec_path}, with build.args.VLLM_VERSION and `ARG VLLM_VERSION` "
                         "in its Dockerfile")
    if runtime == "process":
        if name not in variant.process.placeholders():
            raise UsageError(f"{variant.spec_path}: [process] command and env never use {{{name}}}: both versions "
                             f"would run the same vLLM; name the environment by it, e.g. "
                             f"PYTHONPATH = \"$VLLM_ENVS/{{{name}}}\"")
        return name
    dockerfile = variant.folder / variant.build.dockerfile
    if not dockerfile.is_file() or not re.search(rf"^\s*ARG\s+{name}\b", dockerfile.read_text(), re.MULTILINE):
        raise UsageError(f"{dockerfile} has no `ARG {name}`: the version would never reach the build; declare it "
                         f"and use it (e.g. FROM vllm/vllm-openai:${{{name}}})")
    return name


def run(args: argparse.Namespace, images_dir: Path, reports_dir: Path, console: Console) -> int:
    thresholds = thresholds_from(args.thresholds)
    if args.report_only:
        verdict = _report(args.report_only, _read_record(args.report_only), thresholds, console)
        return 1 if verdict is CompareVerdict.REGRESSION else 0
    if not args.name or not args.ref_to:
        raise UsageError("gate needs a variant and --to: vllm-harness gate NAME --from REF --to REF")
    variant = load_variant(images_dir, args.name)
    arg = version_arg(variant, args.runtime)
    refs = {"A": args.ref_from or variant.build.vllm_version or "", "B": args.ref_to}
    if args.rounds < 2:
        raise UsageError(f"--rounds must be at least 2 (the noise floor compares A with A), got {args.rounds}")
    suites = args.suites or ["suites"]
    for path in suites:
        if not Path(path).exists():
            raise UsageError(f"--suites {path} does not exist")
    gate_dir = reports_dir / "gate" / f"{time.strftime('%Y%m%d-%H%M%S')}-{variant.name}"
    console.print(f"gate {variant.name}: {arg} {refs['A']} (A) → {refs['B']} (B), {args.rounds} rounds → {gate_dir}")
    started = time.monotonic()
    record = GateRecord(variant=variant.name, arg=arg, refs=refs, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    for round_no in range(1, args.rounds + 1):
        for side in SIDES:
            begun = time.monotonic()
            run_dir = _one_round(args, images_dir, gate_dir, variant, side, round_no, (arg, refs[side]), suites,
                                 console)
            found = read_run(run_dir)
            append_history(reports_dir, found.history_line(f"gate:{side}"))
            image = found.run.image
            record.rounds.append(GateRound(side=side, round=round_no, run=run_dir.name,
                                           seconds=round(time.monotonic() - begun, 1),
                                           build_seconds=round(image.build_seconds or 0.0, 1) if image else 0.0))
            record.wall_seconds = round(time.monotonic() - started, 1)
            _write_record(gate_dir, record)
    record.verdict = _report(gate_dir, record, thresholds, console)
    _write_record(gate_dir, record)
    return 1 if record.verdict is CompareVerdict.REGRESSION else 0


RECORD = "gate.json"


class GateRound(BaseModel):
    side: str
    round: int
    run: str  # the run folder under SIDE/runs/, named by the gate
    seconds: float
    build_seconds: float


class GateRecord(BaseModel):
    """gate.json: what the gate ran and what it cost; `verdict` once the report is written."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    variant: str
    arg: str
    refs: dict[str, str]
    rounds: list[GateRound] = []
    started: str
    wall_seconds: float | None = None
    verdict: CompareVerdict | None = None


def _write_record(gate_dir: Path, record: GateRecord) -> None:
    (gate_dir / RECORD).write_text(record.model_dump_json(indent=1, exclude_none=True), encoding="utf-8")


def _read_record(gate_dir: Path) -> GateRecord:
    if not (gate_dir / RECORD).exists():
        raise UsageError(f"{gate_dir} holds no {RECORD}: pass a folder a gate wrote "
                         "(reports/gate/<time>-NAME)")
    return read_model(gate_dir / RECORD, GateRecord)


def _report(gate_dir: Path, record: GateRecord, thresholds: Thresholds, console: Console) -> CompareVerdict:
    """gate.md and gate.html from the gate folder's runs: A vs B, within A's own noise floor."""
    refs = record.refs
    name = record.variant
    a_runs = discover([str(gate_dir / "A")])
    noise = compare(load_side("A1", [str(a_runs[0])], invalid_fallback=False),
                    load_side("A2+", [str(p) for p in a_runs[1:]], invalid_fallback=False), thresholds)
    result = compare(load_side(f"A {refs['A']}", [str(gate_dir / "A")]),
                     load_side(f"B {refs['B']}", [str(gate_dir / "B")]), thresholds).within_noise(noise)
    write(noise, gate_dir / "noise", f"noise floor: {name} {refs['A']} vs itself")
    markdown = write(result, gate_dir, f"vllm-harness gate {name}: {refs['A']} → {refs['B']}", name="gate",
                     appendix=_noise_lines(noise) + _cost_lines(record))
    print(markdown, end="")
    console.print(f"gate report: {gate_dir / 'gate.html'}")
    return result.verdict


def _cost_lines(record: GateRecord) -> str:
    rounds = record.rounds
    if not rounds:
        return ""
    builds = [f"{r.side} {r.build_seconds:.0f}s" for r in rounds if r.build_seconds > 0]
    each = ", ".join(f"{r.side}{r.round} {r.seconds:.0f}s" for r in rounds)
    return (f"\nCost: {(record.wall_seconds or 0) / 60:.1f} min wall; builds: "
            f"{', '.join(builds) or 'none (both images cached)'}; rounds (build, boot, suites, load): {each}.\n")


def _noise_lines(noise: Comparison) -> str:
    changes = [m for m in noise.metrics if m.level != "run" and not math.isinf(m.ratio)]
    if not changes:
        return ""
    worst = max(changes, key=lambda m: abs(m.ratio - 1))
    text = (f"\nNoise floor (A round 1 vs A rounds 2+): largest change {worst.level} {worst.rule.title} "
            f"{worst.ratio:.3f}x; a B change no larger than A's own is not called a regression.\n")
    if noise.regressed:
        text += ("\n⚠️ A vs A itself crossed thresholds (" + "; ".join(noise.regressions) +
                 "): this host is too noisy for them; rerun on a quieter machine or raise the thresholds.\n")
    return text


def _one_round(args: argparse.Namespace, images_dir: Path, gate_dir: Path, variant: Variant, side: str,
               round_no: int, build_arg: tuple[str, str], suites: list[str], console: Console) -> Path:
    """One pytest session that builds (cached after round 1), boots and tests one side, the load suite
    included; returns its run folder."""
    side_dir = gate_dir / side
    run_dir = side_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{variant.name}-{side}{round_no}"
    markexpr = args.markexpr or ("not load" if args.no_load else "load or not load")
    command = [sys.executable, "-m", "pytest", *suites, "--image", variant.name, "--images-dir", str(images_dir),
               "--runtime", args.runtime, "--build-arg", f"{build_arg[0]}={build_arg[1]}",
               "--reports-dir", str(side_dir), "--run-dir", str(run_dir), "-m", markexpr, "-q",
               "-p", "no:cacheprovider",               f"--junitxml={side_dir / f'junit-{round_no}.xml'}"]
    console.print(f"round {round_no} {side} ({build_arg[0]}={build_arg[1]}): pytest {' '.join(suites)} -m "
                  f"'{markexpr}' (log: {side_dir / f'pytest-{round_no}.log'})", markup=False)
    side_dir.mkdir(parents=True, exist_ok=True)
    with (side_dir / f"pytest-{round_no}.log").open("w") as log:
        code = run_session(command, stdout=log, timeout=6 * 3600)
    if code not in (0, 1) or not (run_dir / RUN_FILE).exists():  # 2+: pytest itself could not run the suites
        tail = (side_dir / f"pytest-{round_no}.log").read_text(errors="replace").strip()[-400:]
        raise HarnessError(f"pytest could not run the suites on {side} (exit {code}); see "
                           f"{side_dir / f'pytest-{round_no}.log'}: {tail}")
    return run_dir
