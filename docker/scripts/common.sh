#!/usr/bin/env bash
# Helpers sourced by build.sh, run.sh and deploy.sh (not run on its own).
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() {
    echo "error: $*" >&2
    exit 2
}

# require_project NAME: the name must be a folder under projects/ with a pyproject.toml.
require_project() {
    local name="${1:-}"
    [[ -n "${name}" ]] || die "no project given"
    [[ -f "${REPO_ROOT}/projects/${name}/pyproject.toml" ]] ||
        die "unknown project '${name}'; known: $(find "${REPO_ROOT}/projects" -mindepth 2 -maxdepth 2 -name pyproject.toml -printf '%h\n' | xargs -n1 basename | sort | tr '\n' ' ')"
}

# run_or_print CMD...: print the command; run it unless DRY_RUN=1, and only if docker exists.
run_or_print() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [[ "${DRY_RUN:-0}" == "1" ]]; then
        return 0
    fi
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (use --dry-run to print the command)"
    "$@"
}
