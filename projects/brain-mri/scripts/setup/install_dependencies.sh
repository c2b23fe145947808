#!/usr/bin/env bash
# usage: projects/brain-mri/scripts/setup/install_dependencies.sh [uv sync options]
# Installs brain-mri and its `train` extra, exactly as uv.lock pins them, into the
# repo's venv (.venv at the root, or $UV_PROJECT_ENVIRONMENT). The sync is exact: packages
# of other projects are removed. `uv sync` at the root brings the whole workspace back.
set -euo pipefail
[[ "${1:-}" != "-h" && "${1:-}" != "--help" ]] || { sed -n '2,5s/^# //p' "$0"; exit 0; }
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
exec uv sync --locked --package brain-mri --extra train "$@"
