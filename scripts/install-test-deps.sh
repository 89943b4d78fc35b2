#!/usr/bin/env bash
# Install what the tests and benchmarks need: the package with its test extras (and boto3, and
# Azurite from npm, for the backup tests), checkov in an
# environment of its own, and, when
# running as root, the Debian packages the benchmarks compare against and time with (nginx, wrk,
# hyperfine), Prometheus, the OCI registry and skopeo, and the
# PostgreSQL server the store tests start a throwaway cluster of (tests/store/conftest.py), and
# Debian's chromium, which the approval page's browser test drives through Playwright (no
# browser is ever downloaded), and shellcheck for the example's deploy_script.sh.
set -euo pipefail
python=${1:-python3}
"$python" -m pip install --quiet -e '.[test]'
# The s3 extra (boto3) without its dependency metadata: botocore pins python-dateutil<3 and the
# kubernetes client that the tests use needs >=3; both only call dateutil's parser and tz, which
# the tests exercise (tests/backup against SeaweedFS). Its own pins come from pyproject.toml.
s3=$("$python" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["s3"])')
# shellcheck disable=SC2086 # one argument per pin
"$python" -m pip install --quiet --no-deps $s3
# checkov (the `policy` extra) cannot share that environment (it pins packaging<24, pytest needs
# >=24): it gets one of its own beside it, and its command is linked next to python, where the
# tests look for their tools.
bin=$(cd "$(dirname "$python")" && pwd)
checkov_env="$bin/../checkov"
pin=$("$python" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["policy"])')
if [ "$("$checkov_env/bin/checkov" --version 2>/dev/null)" != "${pin#checkov==}" ]; then
  "$python" -m venv "$checkov_env"
  "$checkov_env/bin/python" -m pip install --quiet "$pin"
fi
ln -sf "$checkov_env/bin/checkov" "$bin/checkov"
# Azurite, Microsoft's Azure Storage emulator, from the npm registry: the backup tests keep
# backups in it (tests/backup/conftest.py). It goes into a folder of its own beside the test
# environment, and its blob server is linked next to python, where the tests look for it.
azurite=3.37.0
if command -v npm >/dev/null; then
  azurite_dir="$bin/../azurite"
  installed=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$azurite_dir/node_modules/azurite/package.json" 2>/dev/null || true)
  if [ "$installed" != "$azurite" ]; then
    npm install --silent --no-audit --no-fund --prefix "$azurite_dir" "azurite@$azurite" >/dev/null
  fi
  ln -sf "$(cd "$azurite_dir" && pwd)/node_modules/.bin/azurite-blob" "$bin/azurite-blob"
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for tool in nginx wrk hyperfine chromium shellcheck; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  # unshare (util-linux, Essential in Debian, so normally there): the approval server's test runs
  # it in a mount namespace with the pod's service account path (tests/kubernetes/test_shared_path.py).
  command -v unshare >/dev/null || missing+=(util-linux)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  # Prometheus and promtool (metric analysis, the served metrics, the alert rules' unit tests);
  # the reference OCI registry and skopeo (the security gates' image digests).
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v skopeo >/dev/null || missing+=(skopeo)
  if [ ${#missing[@]} -gt 0 ]; then
    # Installing postgresql, prometheus or docker-registry would start Debian's own service,
    # which the tests do not use (they start their own on free ports): unless the machine has
    # its own policy, deny those starts for the duration of the install.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e $policy ]; then
      trap 'rm -f "$policy"' EXIT
      # shellcheck disable=SC2016 # $1 is the policy script's own argument
      printf '#!/bin/sh\ncase "$1" in postgresql*|prometheus*|docker-registry*) exit 101 ;; esac\nexit 104\n' >"$policy"
      chmod 755 "$policy"
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
