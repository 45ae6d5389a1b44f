"""The bump-gate workflow's helper finds variants whose declared vLLM version changed since a git ref."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".github" / "scripts" / "vllm_bumps.py"
SPEC = """[build]
vllm_version_arg = "VLLM_VERSION"
[build.args]
VLLM_VERSION = "{version}"
[serve]
model = "m"
served_model_name = "m"
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True,
                   capture_output=True)


def test_reports_only_the_bumped_variant(tmp_path: Path) -> None:
    for name in ("bumped", "same"):
        (tmp_path / "images" / name).mkdir(parents=True)
        (tmp_path / "images" / name / "variant.toml").write_text(SPEC.format(version="v0.14.1"))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "images" / "bumped" / "variant.toml").write_text(SPEC.format(version="v0.15.0"))
    (tmp_path / "images" / "new").mkdir()
    (tmp_path / "images" / "new" / "variant.toml").write_text(SPEC.format(version="v0.15.0"))
    done = subprocess.run([sys.executable, str(SCRIPT), "HEAD"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["bumped v0.14.1 v0.15.0"]
