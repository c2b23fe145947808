#!/usr/bin/env bash
# Push a project's built images to a registry under the names the Kubernetes manifests
# use (REGISTRY/PROJECT:TAG-serve and -train; `invoke deploy` prints those manifests).
set -euo pipefail
# shellcheck source=docker/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<USAGE
usage: docker/scripts/deploy.sh PROJECT --registry HOST[/PATH] [--tag TAG] [--dry-run]
Tags medai/PROJECT:TAG-serve and medai/PROJECT:TAG-train as REGISTRY/PROJECT:TAG-serve
and REGISTRY/PROJECT:TAG-train and pushes both (the train image runs the model init step).
USAGE
}

[[ $# -ge 1 && "$1" != "-h" && "$1" != "--help" ]] || { usage; exit 2; }
project="$1"
shift
require_project "${project}"
registry="${MEDAI_REGISTRY:-}"
tag="$(git -C "${REPO_ROOT}" rev-parse --short HEAD 2>/dev/null || echo dev)"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --registry) registry="${2:?--registry needs a value}"; shift 2 ;;
        --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage; die "unknown option '$1'" ;;
    esac
done
[[ -n "${registry}" ]] || die "no registry: pass --registry or set MEDAI_REGISTRY"

for target in serve train; do
    run_or_print docker tag "medai/${project}:${tag}-${target}" "${registry}/${project}:${tag}-${target}"
    run_or_print docker push "${registry}/${project}:${tag}-${target}"
done
