#!/usr/bin/env bash
# On the GPU host (no internet needed): turn the pieces make-carry.sh wrote into the environment
# gpu-vllm runs for that version, a site directory put in front of the host's own torch by PYTHONPATH.
#
#   install-env.sh PIECES_DIR ENV_DIR        e.g. install-env.sh /media/usb/0.26.0 $VLLM_ENVS/0.26.0
#
# PIECES_DIR holds vllm.partNN and depsN/*.whl (any split across transfers, gathered back in one folder).
# The host's python3 must already have the torch that release pins (make-carry.sh says which).
set -euo pipefail
pieces=$1; env_dir=$2
ls "$pieces"/vllm.part* > /dev/null 2>&1 || { echo "install-env: no vllm.partNN in $pieces (run make-carry.sh)" >&2; exit 2; }
mkdir -p "$env_dir"
cat "$pieces"/vllm.part* | xz -d -T0 | tar x -C "$env_dir"
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$env_dir" "$pieces"/deps*/*.whl
PYTHONPATH="$env_dir" python3 -c "import vllm, torch, transformers; print('install-env:', '$env_dir', 'vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
