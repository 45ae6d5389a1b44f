#!/usr/bin/env bash
# usage: bash repro_stall.sh IMAGE_TAG...   (tags of vllm-harness/cpu-tiny, e.g. from `docker images vllm-harness/cpu-tiny`)
# Is 0.31.0's ~1.4 s stall real? Boot each image alone (same serve args as the variant), run the load suite's
# chat load (c=1 then c=4, 16 requests, 64 in / 32 out, 1 warm-up) three times on the same server, and print
# each run's TTFT of every request. One-time warm-up cost: only the first run stalls.
set -u
cd "$(git rev-parse --show-toplevel)"
for tag in "$@"; do
  name=repro-stall-$tag
  docker run -d --name $name --shm-size 1g -p 127.0.0.1::8000 -e VLLM_CPU_KVCACHE_SPACE=1 -e VLLM_CPU_OMP_THREADS_BIND=auto \
    vllm-harness/cpu-tiny:$tag /models/tiny-llava --served-model-name cpu-tiny --host 0.0.0.0 --port 8000 \
    --max-model-len 2048 --dtype float32 --enforce-eager --max-num-seqs 8 --limit-mm-per-prompt '{"image": 2}' >/dev/null
  port=$(docker port $name 8000 | head -1 | cut -d: -f2)
  for i in $(seq 1 300); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 1; done
  curl -sf http://127.0.0.1:$port/health >/dev/null || { echo "$tag: /health not 200 after 300 s"; docker rm -f $name; continue; }
  echo "== $tag $(curl -s http://127.0.0.1:$port/version) ready after ${i}s"
  for run in 1 2 3; do
    (.venv/bin/vllm-harness --reports-dir "${TMPDIR:-/tmp}/repro-reports" load --base-url http://127.0.0.1:$port --model cpu-tiny \
      --concurrency 1,4 --requests 16 --input-len 64 --output-len 32 --kinds chat > /dev/null 2>&1)
    f=$(ls -td "${TMPDIR:-/tmp}/repro-reports"/runs/*/ | head -1)
    .venv/bin/python - "$f" "$run" <<'PY'
import sys
from harness.load.records import read
fr = read(sys.argv[1] + "requests.csv").sort_values("start")
for level, rows in fr.groupby("level", sort=False):
    print(f"  run {sys.argv[2]} {level:6}", " ".join(f"{r.ttft*1e3:.0f}" for r in rows.itertuples()))
PY
  done
  docker rm -f $name >/dev/null
done
