"""`vllm-harness gate NAME --from REF --to REF`: the vLLM bump gate as one command.

The variant declares which build arg carries its vLLM version (`[build] vllm_version_arg`, whose current
value is in `build.args`; its Dockerfile uses it, e.g. `FROM vllm/vllm-openai:${VLLM_VERSION}`). The gate
builds the variant at both values, then runs rounds interleaved on the same host — A B A B ... — each one a
fresh boot running the suites (pytest against the booted server) and a load run. A is compared with B;
A's first round against its others gives the noise floor, and a change no larger than it is not called a
regression. Output: gate.md (for a PR comment) and gate.html in reports/gate/<time>-NAME/.

    reports/gate/<time>-NAME/
        A/runs/<run>/   one suite run per round of the current version, with load-gate/ inside
        B/runs/<run>/   the same for the candidate
        boots/          build and server logs of every boot
        gate.md, gate.html, noise.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from harness import history
from harness.compare.cli import thresholds_from, write
from harness.compare.decide import Comparison, compare
from harness.compare.runs import discover, load_side
from harness.errors import HarnessError, UsageError
from harness.launch import TargetOptions, launch
from harness.load import cli as load_cli
from harness.load.runner import run_load
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.variant import Variant, load_variant

SIDES = ("A", "B")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the variant to gate")
    p.add_argument("--from", dest="ref_from", default=None, metavar="REF",
                   help="the current vLLM version (default: the variant's build.args value)")
    p.add_argument("--to", dest="ref_to", required=True, metavar="REF", help="the candidate vLLM version")
    p.add_argument("--rounds", type=int, default=3, help="boots per side, interleaved A B A B (>= 2; default 3)")
    p.add_argument("--suites", action="append", default=None, metavar="PATH",
                   help="suite files or folders for pytest (repeatable; default: suites/)")
    p.add_argument("-m", dest="markexpr", default="not load", help="pytest -m expression (default: 'not load')")
    p.add_argument("--requests", type=int, default=None, help="load requests per level (default: the [load] table)")
    p.add_argument("--concurrency", type=load_cli._list(int), default=None, help="load levels, e.g. 1,4")
    p.add_argument("--no-load", action="store_true", help="suites only")
    p.add_argument("--thresholds", type=Path, default=None, help="compare thresholds, TOML (see `compare`)")


def version_arg(variant: Variant) -> str:
    """The variant's vLLM version build arg, checked against its Dockerfile."""
    name = variant.build.vllm_version_arg
    if not name:
        raise UsageError(f"variant {variant.name} declares no vLLM version: add `vllm_version_arg = \"VLLM_VERSION\"` "
                         f"under [build] in {variant.spec_path}, with build.args.VLLM_VERSION and `ARG VLLM_VERSION` "
                         "in its Dockerfile")
    dockerfile = variant.folder / variant.build.dockerfile
    if not dockerfile.is_file() or not re.search(rf"^\s*ARG\s+{name}\b", dockerfile.read_text(), re.MULTILINE):
        raise UsageError(f"{dockerfile} has no `ARG {name}`: the version would never reach the build; declare it "
                         f"and use it (e.g. FROM vllm/vllm-openai:${{{name}}})")
    return name


def run(args: argparse.Namespace, images_dir: Path, reports_dir: Path, console: Console) -> int:
    variant = load_variant(images_dir, args.name)
    arg = version_arg(variant)
    refs = {"A": args.ref_from or variant.build.vllm_version or "", "B": args.ref_to}
    if args.rounds < 2:
        raise UsageError(f"--rounds must be at least 2 (the noise floor compares A with A), got {args.rounds}")
    suites = args.suites or ["suites"]
    for path in suites:
        if not Path(path).exists():
            raise UsageError(f"--suites {path} does not exist")
    thresholds = thresholds_from(args.thresholds)
    gate_dir = reports_dir / "gate" / f"{time.strftime('%Y%m%d-%H%M%S')}-{variant.name}"
    console.print(f"gate {variant.name}: {arg} {refs['A']} (A) → {refs['B']} (B), {args.rounds} rounds → {gate_dir}")
    for round_no in range(1, args.rounds + 1):
        for side in SIDES:
            run_dir = _one_round(args, images_dir, gate_dir, variant, side, round_no, ((arg, refs[side]),),
                                 suites, console)
            history.append(reports_dir, {**history.run_record(run_dir), "tag": f"gate:{side}"})
    a_runs = discover([str(gate_dir / "A")])
    noise = compare(load_side("A1", [str(a_runs[0])]), load_side("A2+", [str(p) for p in a_runs[1:]]), thresholds)
    result = compare(load_side(f"A {refs['A']}", [str(gate_dir / "A")]),
                     load_side(f"B {refs['B']}", [str(gate_dir / "B")]), thresholds).within_noise(noise)
    write(noise, gate_dir / "noise", f"noise floor: {variant.name} {refs['A']} vs itself")
    markdown = write(result, gate_dir, f"vllm-harness gate {variant.name}: {refs['A']} → {refs['B']}")
    markdown += _noise_lines(noise)
    for name in ("compare.md", "compare.html"):
        os.replace(gate_dir / name, gate_dir / name.replace("compare", "gate"))
    (gate_dir / "gate.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    console.print(f"gate report: {gate_dir / 'gate.html'}")
    return 1 if result.regressed else 0


def _noise_lines(noise: Comparison) -> str:
    changes = [m for m in noise.metrics if m.level != "run"]
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
               round_no: int, build_args: tuple[tuple[str, str], ...], suites: list[str], console: Console) -> Path:
    """Boot one side, run the suites and the load against it; returns the suite run's folder."""
    options = TargetOptions(images_dir=images_dir, reports_dir=gate_dir / "boots", image=variant.name,
                            build_args=build_args)
    recorder = RunRecorder(gate_dir / "boots", f"{variant.name}-{side}{round_no}")
    progress = LogProgress(recorder.dir / "build.log", show=lambda line: console.print(line, markup=False))
    side_dir = gate_dir / side
    try:
        with launch(options, recorder, progress) as endpoint:
            console.print(f"round {round_no} {side}: suites against {endpoint.base_url}")
            before = set((side_dir / "runs").glob("*")) if (side_dir / "runs").exists() else set()
            command = [sys.executable, "-m", "pytest", *suites, "--base-url", endpoint.base_url, "--image",
                       variant.name, "--images-dir", str(images_dir), "--reports-dir", str(side_dir),
                       "-m", args.markexpr, "-q", "-p", "no:cacheprovider",
                       f"--junitxml={side_dir / f'junit-{round_no}.xml'}"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
            (recorder.dir / "pytest.log").write_text(done.stdout + done.stderr)
            if done.returncode not in (0, 1):  # 2+: pytest itself could not run the suites
                raise HarnessError(f"pytest could not run the suites (exit {done.returncode}); see "
                                   f"{recorder.dir / 'pytest.log'}: {(done.stdout + done.stderr).strip()[-300:]}")
            (run_dir,) = set((side_dir / "runs").glob("*")) - before
            if not args.no_load:
                spec = variant.load
                namespace = argparse.Namespace(
                    duration=None, requests=args.requests, concurrency=args.concurrency, rate=None, kinds=None,
                    burstiness=None, ramp_up=0.0, input_len=None, output_len=None, no_ignore_eos=False,
                    warmup=None, workers=0, seed=0)
                config = load_cli.config_from(namespace, endpoint.base_url, endpoint.model, spec, variant.name)
                console.print(f"round {round_no} {side}: load {', '.join(lv for lv, _, _ in config.levels())}")
                run_load(endpoint, config, run_dir / "load-gate", console=console)
    finally:
        progress.close()
        recorder.update(finished=True)
    # what the boot knew (image, start-up time) belongs with what the suites and the load found
    run_file = run_dir / "run.json"
    merged = {**json.loads(run_file.read_text()), "image": recorder.run.get("image"),
              "ready_seconds": recorder.run.get("ready_seconds"),
              "gate": {"side": side, "round": round_no, "build_args": dict(build_args)}}
    tmp = run_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2, default=str))
    os.replace(tmp, run_file)
    return run_dir
