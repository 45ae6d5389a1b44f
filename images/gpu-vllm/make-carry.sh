#!/usr/bin/env bash
# Prepares real vLLM (PyPI's CUDA 13 wheel), everything it needs that the GPU host lacks, and the
# harness's own packages, in pieces small enough to travel with the device tool (64 MiB a call).
#
#   make-carry.sh VLLM_VERSION OUT_DIR [EXTRA_REQUIREMENT ...]
#   e.g. make-carry.sh 0.26.0 .gpu/0.26.0 'transformers==5.16.1'
#   make-carry.sh --harness-requirements     what the harness's set is resolved from (offline)
#
# Run it where pip reaches PyPI, with python3 >= 3.11, unzip and xz; move OUT_DIR to the GPU host by any
# means (the device tool's 64 MiB calls, a USB disk); there install-env.sh (beside this script) makes
# $VLLM_ENVS/VLLM_VERSION and the harness's site. The extras are pins the host's packages force on
# vLLM (transformers 5.17 breaks vLLM 0.26's LLaVA import, so 5.16.1 is carried).
#
# OUT_DIR/vllm.partNN         the vLLM package, slimmed (see below), as tar | xz, split in 54 MiB pieces
# OUT_DIR/depsN/*.whl         the wheels of both sets below (Python 3.12, manylinux x86_64), 54 MiB a folder
# OUT_DIR/vllm-wheels.txt     vLLM's set: its requirements' closure, minus what the host has
#                             (device-packages.txt beside this script) and minus torch & co.
# OUT_DIR/harness-wheels.txt  the harness's set: pyproject.toml's [project] dependencies' whole closure,
#                             minus only torch & co. (the host's stated prerequisites, README.md)
# OUT_DIR/torch-version.txt   the torch this vLLM pins: the host's python3 must have it
#
# Only vLLM releases that pin torch==2.11.0 run on the lent H200 (its torch): 0.24.0, 0.25.0, 0.26.0.
# Slimming drops what an H200 never loads: the FlashAttention-2 kernels (Hopper uses FA3), the Rust
# front binary, and deep_gemm builds for other Pythons.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
deps() { python3 "$here/carry_deps.py" "$@"; }
if [ "${1:-}" = --harness-requirements ]; then deps harness-requirements "$repo/pyproject.toml"; exit; fi
[ $# -ge 2 ] || { echo "usage: make-carry.sh VLLM_VERSION OUT_DIR [EXTRA_REQUIREMENT ...]" >&2; exit 2; }
for tool in unzip xz; do
  command -v $tool > /dev/null || { echo "make-carry: $tool not found: install it (it unpacks/packs vLLM)" >&2; exit 2; }
done
ver=$1; out=$2; shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -rf "$out"/deps* "$out"/vllm.part*
mkdir "$out/deps"
plat=(--python-version 3.12 --implementation cp --only-binary=:all:)
for p in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 \
         manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do plat+=(--platform "${p}_x86_64"); done
resolve() {  # requirements file -> pip's report of the whole closure, for the GPU host's platform
  pip install -q --dry-run --ignore-installed --target "$work/t" "${plat[@]}" --report "$2" -r "$1" 2>&1 \
    | grep -v "is ignored" || true
  [ -s "$2" ] || { echo "make-carry: pip could not resolve $1" >&2; exit 1; }
}
fetch() {  # name==version list -> its wheels in OUT/deps, their file names in OUT/<set>-wheels.txt
  mkdir "$work/$2"
  pip download -q --no-deps "${plat[@]}" -d "$work/$2" -r "$1" 2>&1 | grep -v "is ignored" || true
  [ "$(ls "$work/$2" | wc -l)" -eq "$(grep -c . "$1")" ] || { echo "make-carry: pip could not download all of $1" >&2; exit 1; }
  ls "$work/$2" > "$out/$2-wheels.txt"
  cp -n "$work/$2"/*.whl "$out/deps/"
}

echo "make-carry: downloading vllm==$ver"
pip download -q --no-deps -d "$work" "vllm==$ver"
whl=$(ls "$work"/vllm-"$ver"-*.whl)
unzip -p "$whl" '*/METADATA' > "$work/METADATA"
deps torch-pin "$work/METADATA" > "$out/torch-version.txt"

# vLLM's own requirements, less the GPU stack the machine already has in matching versions
sed -n 's/^Requires-Dist: //p' "$work/METADATA" | grep -v 'extra ==' \
  | grep -viE '^(torch|torchaudio|torchvision|torchcodec|triton|nvidia-|flashinfer|xformers|cupy|tilelang|apache-tvm-ffi|quack|pynvvideocodec|humming|tokenspeed|fastsafetensors|instanttensor|nvtx|numba|numpy|opencv)' \
  > "$work/vllm-req.txt"
printf '%s\n' "$@" >> "$work/vllm-req.txt"
deps harness-requirements "$repo/pyproject.toml" > "$work/harness-req.txt"

echo "make-carry: resolving vLLM's and the harness's sets"
resolve "$work/vllm-req.txt" "$work/vllm.json"
resolve "$work/harness-req.txt" "$work/harness.json"
deps select "$work/vllm.json" "$work/vllm-need.txt" --host "$here/device-packages.txt" --keep "$@"
deps select "$work/harness.json" "$work/harness-need.txt"
fetch "$work/vllm-need.txt" vllm
fetch "$work/harness-need.txt" harness

echo "make-carry: slimming and compressing vLLM (a few minutes)"
mkdir "$work/pkg"
(cd "$work/pkg" && unzip -q "$whl" \
  && rm -f vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so vllm/vllm-rs \
  && find vllm/third_party -name '_C.cpython-3*' ! -name '*cpython-312*' -delete)
tar -C "$work/pkg" -cf - . | xz -9 -T0 > "$work/vllm.tar.xz"
split -b 54M -d "$work/vllm.tar.xz" "$out/vllm.part"
deps split "$out"
echo "make-carry: $(du -sm "$out" | cut -f1) MiB in $out; one device call per item:"
du -sm "$out"/vllm.part* "$out"/deps*
