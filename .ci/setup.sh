#!/usr/bin/env bash
# Sets up a fresh Debian machine for the harness, idempotently: a Docker engine (Debian's docker.io,
# started when none answers), debootstrap for the locally made base images, Chromium for looking at
# reports, and the harness itself in .venv. Used by the README's two commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v chromium >/dev/null || need+=(chromium)  # the tests open the HTML load report headless
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  as_root setsid nohup dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /tmp/dockerd.log" >&2; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
  | grep -v "is neither a file nor a directory" || true
# locust first: it monkey-patches ssl (gevent), which must happen before anything imports ssl
.venv/bin/python -c "import locust, harness, docker, httpx, pandas, matplotlib, pynvml, PIL, rich, openai" \
  || { echo "setup: the harness did not install into .venv" >&2; exit 1; }
echo "setup: ready (docker $(docker version --format '{{.Server.Version}}'), $(.venv/bin/python --version))"
