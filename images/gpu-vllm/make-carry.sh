#!/usr/bin/env bash
# Prepares real vLLM (PyPI's CUDA 13 wheel) and everything it and the harness need that the lent H200
# machine lacks, in pieces small enough to travel with the device tool (64 MiB a call).
#
#   make-carry.sh VLLM_VERSION OUT_DIR [EXTRA_REQUIREMENT ...]
#   e.g. make-carry.sh 0.26.0 .gpu/0.26.0 'transformers==5.16.1' 'docker>=7.1' 'locust>=2.30' 'httptools>=0.6' 'orjson>=3.9'
#
# Run it where pip reaches PyPI; move OUT_DIR to the GPU host by any means (the device tool's 64 MiB
# calls, a USB disk); there install-env.sh (beside this script) makes $VLLM_ENVS/VLLM_VERSION.
# device-packages.txt lists what the GPU host already has: replace it with `python3 -m pip list
# --format=freeze | cut -d= -f1` from your own host. The extras are the harness's own needs
# (docker, locust, httptools, orjson) and any pin the host's packages force (transformers 5.17 breaks
# vLLM 0.26's LLaVA import, so 5.16.1 is carried).
#
# OUT_DIR/vllm.partNN  the vLLM package, slimmed (see below), as tar | xz, split in 54 MiB pieces
# OUT_DIR/depsN/*.whl  every other wheel it needs (Python 3.12, manylinux x86_64), minus what the
#                      machine has (device-packages.txt beside this script) and minus torch & co.
#
# Only vLLM releases that pin torch==2.11.0 run there (the machine's torch): 0.24.0, 0.25.0, 0.26.0.
# Slimming drops what an H200 never loads: the FlashAttention-2 kernels (Hopper uses FA3), the Rust
# front binary, and deep_gemm builds for other Pythons. On the machine:
#   cat OUT_DIR/vllm.part* | xz -d | tar x -C SITE   and   pip install --no-deps --target SITE deps*/*.whl
set -euo pipefail
ver=$1; out=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/deps"
plat=(--python-version 3.12 --implementation cp --only-binary=:all:)
for p in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 \
         manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do plat+=(--platform "${p}_x86_64"); done

echo "make-carry: downloading vllm==$ver"
pip download -q --no-deps -d "$work" "vllm==$ver"
whl=$(ls "$work"/vllm-"$ver"-*.whl)

# vLLM's own requirements, less the GPU stack the machine already has in matching versions
unzip -p "$whl" '*/METADATA' | sed -n 's/^Requires-Dist: //p' | grep -v 'extra ==' \
  | grep -viE '^(torch|torchaudio|torchvision|torchcodec|triton|nvidia-|flashinfer|xformers|cupy|tilelang|apache-tvm-ffi|quack|pynvvideocodec|humming|tokenspeed|fastsafetensors|instanttensor|nvtx|numba|numpy|opencv)' \
  > "$work/req.txt"
printf '%s\n' "$@" >> "$work/req.txt"

echo "make-carry: resolving what the machine lacks"
pip install -q --dry-run --ignore-installed --target "$work/t" "${plat[@]}" --report "$work/r.json" \
  -r "$work/req.txt" 2>&1 | grep -v "is ignored" || true
python3 - "$work/r.json" "$here/device-packages.txt" "$work/need.txt" "$@" <<'PY'
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
report, have_file, need_file, *extra = sys.argv[1:]
have = {norm(l.strip()) for l in open(have_file) if l.strip() and not l.startswith("#")}
forced = {norm(re.split(r"[<>=!~ ;\[]", e, 1)[0]) for e in extra}  # asked for explicitly: carry it
need = []
for item in json.load(open(report))["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    n = norm(name)
    if n.startswith(("nvidia-", "torch", "triton")) or (n in have and n not in forced):
        continue
    need.append(f"{name}=={version}")
open(need_file, "w").write("\n".join(need) + "\n")
print(f"make-carry: {len(need)} wheels to carry")
PY
pip download -q --no-deps "${plat[@]}" -d "$out/deps" -r "$work/need.txt" 2>&1 | grep -v "is ignored" || true

echo "make-carry: slimming and compressing vLLM (a few minutes)"
mkdir "$work/pkg"
(cd "$work/pkg" && unzip -q "$whl" \
  && rm -f vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so vllm/vllm-rs \
  && find vllm/third_party -name '_C.cpython-3*' ! -name '*cpython-312*' -delete)
tar -C "$work/pkg" -cf - . | xz -9 -T0 > "$work/vllm.tar.xz"
rm -f "$out"/vllm.part*
split -b 54M -d "$work/vllm.tar.xz" "$out/vllm.part"
# the wheels, in folders of at most 54 MiB: one folder per device call
python3 - "$out" <<'PY'
import os, shutil, sys
out = sys.argv[1]; src = os.path.join(out, "deps")
wheels = sorted(os.listdir(src), key=lambda w: -os.path.getsize(os.path.join(src, w)))
bins: list[list[str]] = []; sizes: list[int] = []
for w in wheels:
    size = os.path.getsize(os.path.join(src, w))
    i = next((i for i, s in enumerate(sizes) if s + size <= 54 << 20), None)
    if i is None:
        bins.append([]); sizes.append(0); i = len(bins) - 1
    bins[i].append(w); sizes[i] += size
for i, names in enumerate(bins):
    d = os.path.join(out, f"deps{i}"); os.makedirs(d, exist_ok=True)
    for w in names:
        shutil.move(os.path.join(src, w), d)
os.rmdir(src)
PY
echo "make-carry: $(du -sm "$out" | cut -f1) MiB in $out; one device call per item:"
du -sm "$out"/vllm.part* "$out"/deps*
