"""Make PyPI's CUDA build of torchvision load on top of the CPU-only torch wheel.

vLLM's LLaVA path imports `torchvision.transforms.v2`, and torchvision refuses to
import when its `_C.so` (which registers `torchvision::nms`) fails to load. PyPI's
torchvision 0.28.0 is built against CUDA torch, so its extensions need
libc10_cuda.so / libtorch_cuda.so (absent from CPU torch) and an unbundled
libcudart.so.13. This script:

1. points the extensions' rpath at torch/lib and torchvision.libs;
2. swaps the unbundled `libcudart.so.<N>` for the copy auditwheel bundled in
   torchvision.libs (hash-renamed, so the loader cannot find it by soname);
3. replaces libc10_cuda.so / libtorch_cuda.so with one generated stub library
   defining every symbol the extensions import that nothing else provides.
   The CUDA kernels that reference them are only dispatched for CUDA tensors,
   so on CPU the stubs are never called (if one ever is, it aborts loudly);
4. verifies the import chain vLLM uses, exiting non-zero on any failure.
"""

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

STUB_LIB = "libtorchvision_cuda_stubs.so"
# Torch CUDA libraries that the CPU torch wheel does not ship; the stub stands in for them.
MISSING_TORCH_LIBS = ("libc10_cuda.so", "libtorch_cuda.so")
VERIFY = """
import warnings
warnings.simplefilter("error")  # torchvision only *warns* when an extension fails to load
import torch, torchvision, torchvision.transforms.v2, torchvision.io
torch.ops.torchvision.nms
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
png = torchvision.io.encode_png(torch.zeros(3, 4, 4, dtype=torch.uint8))
assert torchvision.io.decode_png(png).shape == (3, 4, 4)
print("torchvision", torchvision.__version__, "OK on torch", torch.__version__)
"""


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def needed(lib: Path) -> list[str]:
    return run("patchelf", "--print-needed", str(lib)).split()


def resolved_deps(lib: Path) -> tuple[list[Path], list[str]]:
    """Return (resolved library paths, sonames the loader cannot find) as ldd sees them."""
    found: list[Path] = []
    missing: list[str] = []
    for line in run("ldd", str(lib)).splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
        elif m := re.match(r"(?:\S+ => )?(/\S+) \(0x", line):
            found.append(Path(m.group(1)))
    return found, missing


def dynamic_symbols(lib: Path, undefined: bool) -> set[str]:
    flag = "--undefined-only" if undefined else "--defined-only"
    symbols: set[str] = set()
    for line in run("nm", "-D", flag, str(lib)).splitlines():
        parts = line.split()
        # Weak undefined symbols ("w"/"v") may legitimately stay unresolved.
        if undefined and parts[0] != "U":
            continue
        symbols.add(parts[-1].split("@")[0])
    return symbols


def is_function(symbol: str) -> bool:
    # Demangled C++ functions carry a parameter list; data objects do not.
    return "(" in run("c++filt", symbol)


def build_stub_library(symbols: set[str], out: Path) -> None:
    lines = ["#include <stdio.h>", "#include <stdlib.h>"]
    for sym in sorted(symbols):
        if is_function(sym):
            lines.append(
                f'void {sym}(void) {{ fputs("torchvision CUDA stub called on CPU: {sym}\\n", stderr); abort(); }}'
            )
        else:
            # Zeroed storage: e.g. the CUDA caching allocator pointer reads as nullptr.
            lines.append(f"__attribute__((aligned(64))) char {sym}[256];")
    with tempfile.TemporaryDirectory(prefix="tvstub-") as tmp:
        src = Path(tmp) / "stubs.c"
        src.write_text("\n".join(lines) + "\n")
        run("gcc", "-shared", "-fPIC", "-O2", f"-Wl,-soname,{STUB_LIB}", "-o", str(out), str(src))


def main() -> None:
    # Locate torchvision without importing it: the import itself fails until it is fixed.
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("torchvision is not installed")
    pkg = Path(next(iter(spec.submodule_search_locations)))
    libs_dir = pkg.parent / "torchvision.libs"
    torch_lib = Path(torch.__file__).parent / "lib"
    extensions = sorted(pkg.glob("*.so"))
    if not extensions:
        sys.exit(f"no torchvision extensions found in {pkg}")

    bundled_cudart = sorted(libs_dir.glob("libcudart.*.so.*"))
    for ext in extensions:
        deps = needed(ext)
        for dep in deps:
            # auditwheel bundles cudart as libcudart.<hash>.so.<N> but left some NEEDED entries unrenamed.
            if re.fullmatch(r"libcudart\.so\.\d+", dep):
                if len(bundled_cudart) != 1:
                    sys.exit(f"{ext.name} needs {dep}; expected one bundled cudart, found {bundled_cudart}")
                run("patchelf", "--replace-needed", dep, bundled_cudart[0].name, str(ext))
        present = [name for name in MISSING_TORCH_LIBS if name in deps]
        if present:
            run("patchelf", "--replace-needed", present[0], STUB_LIB, str(ext))
            for name in present[1:]:
                run("patchelf", "--remove-needed", name, str(ext))
        run("patchelf", "--set-rpath", "$ORIGIN:$ORIGIN/../torch/lib:$ORIGIN/../torchvision.libs", str(ext))

    # Build a placeholder so ldd resolves everything else, then compute what the stub must define.
    stub_path = libs_dir / STUB_LIB
    build_stub_library(set(), stub_path)
    to_stub: set[str] = set()
    for ext in extensions:
        found, missing = resolved_deps(ext)
        if missing:
            sys.exit(f"{ext.name}: unresolved libraries after patching: {missing}")
        provided: set[str] = set()
        for lib in found:
            if lib != stub_path:
                provided |= dynamic_symbols(lib, undefined=False)
        # Python C-API symbols come from the interpreter, which ldd cannot see.
        unresolved = {s for s in dynamic_symbols(ext, undefined=True) - provided if not re.match(r"_?Py", s)}
        print(f"{ext.name}: stubbing {len(unresolved)} symbols")
        to_stub |= unresolved
    build_stub_library(to_stub, stub_path)
    print(f"built {stub_path} with {len(to_stub)} symbols; rpaths point at {torch_lib} and {libs_dir}")

    result = subprocess.run([sys.executable, "-c", VERIFY], capture_output=True, text=True)
    print(result.stdout, result.stderr, sep="", end="")
    if result.returncode != 0:
        sys.exit("FATAL: torchvision still fails to load on CPU torch; see output above")


if __name__ == "__main__":
    main()
