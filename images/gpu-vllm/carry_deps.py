"""What make-carry.sh carries, decided offline so it can be tested without a download:

  carry_deps.py harness-requirements PYPROJECT    the harness's own runtime requirements ([project] dependencies)
  carry_deps.py select REPORT OUT [--host FILE] [--keep REQ ...]
                                                  name==version per line for the wheels to carry, read from
                                                  `pip install --dry-run --report REPORT`
  carry_deps.py torch-pin VLLM_METADATA           the torch version a vLLM wheel pins (the host must have it)
  carry_deps.py split OUT                         OUT/deps/*.whl into OUT/depsN/ folders of at most 54 MiB

Two sets are carried. vLLM's sits in front of the host's own site (PYTHONPATH), so it skips what the host
already has (device-packages.txt). The harness's is a site of its own and is carried whole: the GPU host
is only required to have Python 3.12 and torch, so nothing else it happens to have is relied on.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

# what the recipe requires of the GPU host (README.md): torch and its CUDA stack, never carried
HOST_STACK = re.compile(r"^(torch.*|triton|cuda-.*|nvidia-(?!ml-py$).*)$")
PIECE = 54 << 20  # a device call carries 64 MiB with the working tree: 54 MiB leaves room for it


def norm(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return norm(re.split(r"[<>=!~ ;\[(@]", requirement.strip(), maxsplit=1)[0])


def harness_requirements(pyproject: Path) -> list[str]:
    """The harness's [project] dependencies as written, less the host's torch stack."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [r for r in project["dependencies"] if not HOST_STACK.match(requirement_name(r))]


def host_packages(path: Path) -> set[str]:
    return {norm(line.strip()) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def select(report: dict, host: set[str], keep: set[str]) -> list[str]:
    """name==version of every package pip resolved, less the torch stack and what the host has (unless
    asked for explicitly in `keep`: a pin the host's own version breaks)."""
    need = []
    for item in report["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        n = norm(name)
        if HOST_STACK.match(n) or (n in host and n not in keep):
            continue
        need.append(f"{name}=={version}")
    return need


def torch_pin(metadata: str) -> str:
    """The exact torch version a vLLM wheel's METADATA requires (`Requires-Dist: torch==2.11.0`)."""
    match = re.search(r"^Requires-Dist: torch\s*==\s*([\w.+]+)\s*$", metadata, re.MULTILINE)
    if not match:
        raise SystemExit("carry_deps: the vLLM wheel pins no exact torch (Requires-Dist: torch==X)")
    return match.group(1)


def split(out: Path, limit: int = PIECE) -> list[Path]:
    """Move OUT/deps/*.whl into OUT/depsN/ folders of at most `limit` bytes (first fit, largest first):
    one folder per device call."""
    src = out / "deps"
    wheels = sorted(src.iterdir(), key=lambda w: -w.stat().st_size)
    folders: list[Path] = []
    sizes: list[int] = []
    for wheel in wheels:
        size = wheel.stat().st_size
        i = next((i for i, s in enumerate(sizes) if s + size <= limit), None)
        if i is None:
            folders.append(out / f"deps{len(folders)}")
            folders[-1].mkdir()
            sizes.append(0)
            i = len(folders) - 1
        shutil.move(wheel, folders[i] / wheel.name)
        sizes[i] += size
    src.rmdir()
    return folders


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="carry_deps.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("harness-requirements").add_argument("pyproject", type=Path)
    pick = commands.add_parser("select")
    pick.add_argument("report", type=Path)
    pick.add_argument("out", type=Path)
    pick.add_argument("--host", type=Path, help="the host's package list: skip these")
    pick.add_argument("--keep", nargs="*", default=[], help="requirements to carry even if the host has them")
    commands.add_parser("torch-pin").add_argument("metadata", type=Path)
    commands.add_parser("split").add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "harness-requirements":
        print("\n".join(harness_requirements(args.pyproject)))
    elif args.command == "select":
        host = host_packages(args.host) if args.host else set()
        need = select(json.loads(args.report.read_text()), host, {requirement_name(r) for r in args.keep})
        args.out.write_text("".join(f"{n}\n" for n in need))
        print(f"make-carry: {len(need)} wheels to carry in {args.out.name}")
    elif args.command == "torch-pin":
        print(torch_pin(args.metadata.read_text()))
    else:
        split(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
