#!/usr/bin/env bash
# Start a project's compose stack (serving image + model init step) for one environment.
set -euo pipefail
# shellcheck source=docker/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<USAGE
usage: docker/scripts/run.sh PROJECT [--env dev|prod] [--dry-run]
Runs docker compose with projects/PROJECT/docker/docker-compose.yml plus the
docker-compose.ENV.yml overlay (default dev).
USAGE
}

[[ $# -ge 1 && "$1" != "-h" && "$1" != "--help" ]] || { usage; exit 2; }
project="$1"
shift
require_project "${project}"
env="dev"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env) env="${2:?--env needs dev or prod}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage; die "unknown option '$1'" ;;
    esac
done
[[ "${env}" == "dev" || "${env}" == "prod" ]] || die "--env must be dev or prod, got '${env}'"

compose_dir="${REPO_ROOT}/projects/${project}/docker"
run_or_print docker compose \
    --project-directory "${REPO_ROOT}" \
    --file "${compose_dir}/docker-compose.yml" \
    --file "${compose_dir}/docker-compose.${env}.yml" \
    up --detach
