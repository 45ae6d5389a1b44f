"""Numbers for the embedded default, through the real engine:

    python benchmarks/boot_cpu_tiny.py [--cold]

prints build seconds (cold with --cold: no layer cache), image size, the time to find an unchanged
image, boot-to-ready seconds, and the wall time of `pytest suites/ --image cpu-tiny`."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.image.build import build_variant
from harness.progress import LogProgress
from harness.results import RunRecorder
from harness.server.engine import connect
from harness.server.launch import TargetOptions, launch
from harness.spec.variant import load_variant

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="build without the engine's layer cache first")
    args = parser.parse_args()
    client = connect()
    variant = load_variant(REPO / "images", "cpu-tiny")
    quiet = LogProgress(None, show=lambda _: None)
    if args.cold:
        built = build_variant(client, variant, quiet, no_cache=True)
        print(f"cold build: {built.build_seconds:.1f} s, image {built.size_bytes / 1e9:.2f} GB")
    started = time.monotonic()
    built = build_variant(client, variant, quiet)
    print(f"unchanged variant found in {time.monotonic() - started:.2f} s (cached={built.cached}), "
          f"image {built.size_bytes / 1e9:.2f} GB")
    with tempfile.TemporaryDirectory() as tmp:
        options = TargetOptions(images_dir=REPO / "images", reports_dir=Path(tmp), image="cpu-tiny")
        recorder = RunRecorder(Path(tmp), "cpu-tiny")
        started = time.monotonic()
        with launch(options, recorder, quiet):
            print(f"second run to ready (nothing changed): {time.monotonic() - started:.1f} s "
                  f"(boot-to-ready {recorder.run['ready_seconds']:.1f} s)")
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "pytest", "suites/", "--image", "cpu-tiny", "-q",
                                 "--reports-dir", tmp], cwd=REPO, capture_output=True, text=True)
        print(f"pytest suites/ --image cpu-tiny: {time.monotonic() - started:.1f} s wall, "
              f"exit {result.returncode}: {result.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
