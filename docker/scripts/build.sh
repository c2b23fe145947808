#!/usr/bin/env bash
# Build a project's image from the repo root with the shared Dockerfile recipe.
set -euo pipefail
# shellcheck source=docker/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<USAGE
usage: docker/scripts/build.sh PROJECT [--target serve|train] [--tag TAG] [--dry-run]
Builds medai/PROJECT:TAG-TARGET (default target serve, tag = git short commit).
USAGE
}

[[ $# -ge 1 && "$1" != "-h" && "$1" != "--help" ]] || { usage; exit 2; }
project="$1"
shift
require_project "${project}"
target="serve"
tag="$(git -C "${REPO_ROOT}" rev-parse --short HEAD 2>/dev/null || echo dev)"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) target="${2:?--target needs serve or train}"; shift 2 ;;
        --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage; die "unknown option '$1'" ;;
    esac
done
[[ "${target}" == "serve" || "${target}" == "train" ]] || die "--target must be serve or train, got '${target}'"

run_or_print docker build \
    --file "${REPO_ROOT}/docker/Dockerfile.project" \
    --build-arg "PROJECT=${project}" \
    --target "${target}" \
    --tag "medai/${project}:${tag}-${target}" \
    "${REPO_ROOT}"
