#!/usr/bin/env bash
# On the GPU host (no internet needed): turn the pieces make-carry.sh wrote into the environment
# gpu-vllm runs for that version, a site directory put in front of the host's own torch by PYTHONPATH,
# and, given HARNESS_SITE, the harness's own packages (a site of their own: PYTHONPATH=HARNESS_SITE:REPO).
#
#   install-env.sh PIECES_DIR ENV_DIR [HARNESS_SITE]
#   e.g. install-env.sh /media/usb/0.26.0 $VLLM_ENVS/0.26.0 /opt/harness-site
#
# PIECES_DIR holds vllm.partNN, depsN/*.whl and the *-wheels.txt lists (any split across transfers,
# gathered back in one folder). The host must have, before anything is unpacked: python3 being
# Python 3.12 with pip, the torch the release pins (PIECES_DIR/torch-version.txt) importable by it, xz.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: install-env.sh PIECES_DIR ENV_DIR [HARNESS_SITE]" >&2; exit 2; }
pieces=$1; env_dir=$2; hsite=${3:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
ls "$pieces"/vllm.part* > /dev/null 2>&1 || { echo "install-env: no vllm.partNN in $pieces (run make-carry.sh)" >&2; exit 2; }

# the prerequisites, one line for each that is missing
missing=0
lack() { echo "install-env: $*" >&2; missing=1; }
command -v xz > /dev/null || lack "xz not found: install it (Debian/Ubuntu: apt-get install xz-utils); vLLM comes xz-compressed"
if ! command -v python3 > /dev/null; then
  lack "python3 not found: the environment is for Python 3.12, run as python3"
else
  py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$py" != 3.12 ]; then
    lack "python3 is Python $py; the carried wheels are for 3.12: put python3.12 first on PATH as python3"
  else
    python3 -m pip --version > /dev/null 2>&1 || lack "python3 has no pip: install it (Debian/Ubuntu: apt-get install python3-pip)"
    pin=$(cat "$pieces/torch-version.txt" 2>/dev/null || true)
    torch=$(python3 -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || echo none)
    if [ -n "$pin" ] && [ "$torch" != "$pin" ]; then
      lack "python3's torch is $torch; this vLLM pins torch==$pin: install that torch (with its CUDA wheels) first"
    fi
  fi
fi
[ $missing = 0 ] || exit 2

wheels() {  # the carried wheels of one set (vllm, harness), wherever the depsN folders put them
  if [ ! -f "$pieces/$1-wheels.txt" ]; then ls "$pieces"/deps*/*.whl; return; fi  # an older carry: one set
  while read -r name; do
    found=("$pieces"/deps*/"$name")
    [ -f "${found[0]}" ] || { echo "install-env: $name (in $1-wheels.txt) is in no depsN folder of $pieces" >&2; exit 2; }
    echo "${found[0]}"
  done < "$pieces/$1-wheels.txt"
}
install() {
  local found; found=$(wheels "$1")
  mapfile -t list <<< "$found"
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$2" "${list[@]}"
}

mkdir -p "$env_dir"
cat "$pieces"/vllm.part* | xz -d -T0 | tar x -C "$env_dir"
install vllm "$env_dir"
PYTHONPATH="$env_dir" python3 -c "import vllm, torch, transformers; print('install-env:', '$env_dir', 'vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
[ -n "$hsite" ] || exit 0
[ -f "$pieces/harness-wheels.txt" ] || { echo "install-env: no harness-wheels.txt in $pieces: remake it with this make-carry.sh" >&2; exit 2; }
mkdir -p "$hsite"
install harness "$hsite"
(cd "$repo" && PYTHONPATH="$hsite:$repo" python3 -m pytest -p harness.plugin --help | grep -- '--image' > /dev/null) \
  || { echo "install-env: the harness does not load from $hsite (see the line above)" >&2; exit 1; }
echo "install-env: the harness's packages are in $hsite; in $repo: export PYTHONPATH=$hsite:$repo PYTEST_ADDOPTS='-p harness.plugin'"
