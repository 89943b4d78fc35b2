#!/usr/bin/env bash
# deploy_script.sh: the seed's entry point, kept for people and jobs that call it; arxdeploy does the work.
#
#   ENVIRONMENT=staging VERSION=1.4.0 ./arx-infra/deploy/deploy_script.sh
#   ./arx-infra/deploy/deploy_script.sh --environment production --version v1.2.0
#   ./arx-infra/deploy/deploy_script.sh --rollback [--environment production] [--to v1.1.0]
#   ./arx-infra/deploy/deploy_script.sh --status
#
# Exit codes are arxdeploy's: 0 succeeded, 1 failed or rolled back (the service stays on a healthy
# version), 2 bad usage or config, 3 approval rejected or expired, 4 another deployment runs, 5 internal.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIG="${ARXDEPLOY_CONFIG:-$SCRIPT_DIR/deployment_config.yaml}"
# The arxdeploy command; tests point it at `python -m arxdeploy.cli.main`.
read -r -a ARXDEPLOY <<<"${ARXDEPLOY:-arxdeploy}"

environment="${ENVIRONMENT:-staging}"
version="${VERSION:-${IMAGE_TAG:-}}"
mode=deploy
to=""
reason="${REASON:-}"
extra=()

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# An option that takes a value, given without one: usage error, exit 2 (as arxdeploy's).
need() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then
    echo "deploy_script.sh: $1 needs a value (see --help)" >&2
    exit 2
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    -e|--environment) need "$@"; environment="$2"; shift 2 ;;
    -v|--version) need "$@"; version="$2"; shift 2 ;;
    --rollback) mode=rollback; shift ;;
    --to) need "$@"; to="$2"; shift 2 ;;
    --status) mode=status; shift ;;
    --reason) need "$@"; reason="$2"; shift 2 ;;
    --no-wait) extra+=(--no-wait); shift ;;
    --critical) extra+=(--critical); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "deploy_script.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$mode" in
  deploy)
    if [ -z "$version" ]; then
      echo "deploy_script.sh: no version: pass --version or set VERSION" >&2
      exit 2
    fi
    # ${extra[@]+...}: an empty array under `set -u` on bash older than 4.4 (macOS) is not an error.
    exec "${ARXDEPLOY[@]}" -c "$CONFIG" deploy --env "$environment" --version "$version" \
      --reason "${reason:-deploy_script.sh}" ${extra[@]+"${extra[@]}"}
    ;;
  rollback)
    args=(rollback --env "$environment" --reason "${reason:-emergency rollback (deploy_script.sh --rollback)}")
    [ -n "$to" ] && args+=(--to "$to")
    exec "${ARXDEPLOY[@]}" -c "$CONFIG" "${args[@]}"
    ;;
  status)
    exec "${ARXDEPLOY[@]}" -c "$CONFIG" status
    ;;
esac
