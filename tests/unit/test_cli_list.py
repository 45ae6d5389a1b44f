"""`vllm-harness list` into a pipe (80 columns, no terminal): every identifier whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.spec.variant import load_all

REPO = Path(__file__).resolve().parents[2]


def test_list_never_cuts_names_models_or_capabilities() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "list"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "TERM": "dumb"})
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout, done.stdout
    cells = {cell.strip() for line in done.stdout.splitlines() for cell in line.split("│")}
    for variant in load_all(REPO / "images"):
        assert variant.name in cells and variant.serve.served_model_name in cells, variant.name
        assert set(variant.capabilities.enabled()) <= cells, variant.name
