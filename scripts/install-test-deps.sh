#!/usr/bin/env bash
# Install what the tests and benchmarks need: the package with its test extras, and, when
# running as root, the Debian packages the benchmarks compare against (nginx, wrk).
set -euo pipefail
python=${1:-python3}
"$python" -m pip install --quiet -e '.[test]'
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for tool in nginx wrk; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
