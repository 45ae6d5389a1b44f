"""Print `NAME FROM TO` for every variant whose declared vLLM version (build.args[build.vllm_version_arg])
differs between BASE (a git ref) and the working tree: what the bump gate must check on a pull request.

    python .github/scripts/vllm_bumps.py origin/main
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from harness.spec.variant import load_all


def version_at(ref: str, spec: Path, arg: str) -> str | None:
    shown = subprocess.run(["git", "show", f"{ref}:{spec.as_posix()}"], capture_output=True, text=True)
    if shown.returncode != 0:  # a new variant: nothing to compare with
        return None
    return ((tomllib.loads(shown.stdout).get("build") or {}).get("args") or {}).get(arg)


def main() -> None:
    base = sys.argv[1]
    root = Path.cwd()
    for variant in load_all(root / "images"):
        arg = variant.build.vllm_version_arg
        if not arg:
            continue
        before = version_at(base, variant.spec_path.relative_to(root), arg)
        if before is not None and before != variant.build.vllm_version:
            print(variant.name, before, variant.build.vllm_version)


if __name__ == "__main__":
    main()
