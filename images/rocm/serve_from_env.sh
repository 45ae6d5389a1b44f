#!/bin/bash
# Seed 002's environment configuration as `vllm serve` flags. vLLM itself reads only some VLLM_*
# variables, and two of the seed's would do harm if vLLM saw them: VLLM_PORT is vLLM's *internal*
# communication port (not the API port: 8000 there collides with the server), and VLLM_API_KEY=None
# would demand the key "None". Both are translated and removed before vLLM starts.
set -euo pipefail

set_flag() {  # set_flag ENV_NAME --flag: add "--flag $ENV_NAME" when it is set and not "None"
    local value="${!1:-}"
    if [[ -n "$value" && "$value" != "None" ]]; then flags+=("$2" "$value"); fi
}

flags=()
set_flag VLLM_HOST --host
set_flag VLLM_PORT --port
set_flag VLLM_GPU_MEMORY_UTILIZATION --gpu-memory-utilization
set_flag VLLM_MAX_MODEL_LEN --max-model-len
set_flag VLLM_TENSOR_PARALLEL_SIZE --tensor-parallel-size
set_flag VLLM_PIPELINE_PARALLEL_SIZE --pipeline-parallel-size
set_flag VLLM_DTYPE --dtype
set_flag VLLM_BLOCK_SIZE --block-size
set_flag VLLM_SWAP_SPACE --swap-space
set_flag VLLM_NUM_GPU_BLOCKS_OVERRIDE --num-gpu-blocks-override
set_flag VLLM_API_KEY --api-key
if [[ "${VLLM_ENFORCE_EAGER:-0}" == "1" ]]; then flags+=(--enforce-eager); fi
if [[ "${TRANSFORMERS_TRUST_REMOTE_CODE:-0}" == "1" ]]; then flags+=(--trust-remote-code); fi
if [[ "${VLLM_LOG_REQUESTS:-false}" == "true" ]]; then flags+=(--enable-log-requests); fi
export VLLM_LOGGING_LEVEL="${VLLM_LOGGING_LEVEL:-${VLLM_LOG_LEVEL:-INFO}}"
unset VLLM_PORT
[[ "${VLLM_API_KEY:-None}" == "None" ]] && unset VLLM_API_KEY

# the model: the first argument if one is given, else VLLM_MODEL; explicit arguments come last and win
if [[ $# -gt 0 && "$1" != -* ]]; then model="$1"; shift; else model="${VLLM_MODEL:?set VLLM_MODEL}"; fi
mkdir -p "${LOG_DIRECTORY:-/var/log/vllm}"
exec vllm serve "$model" "${flags[@]}" "$@"
