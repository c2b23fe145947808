#!/usr/bin/env bash
# usage: projects/brain-mri/scripts/setup/setup_environment.sh
# Writes projects/brain-mri/.env from .env.example unless it exists (yours is kept).
# Nothing reads .env by itself: load it into the shell with `set -a; source .env; set +a`,
# or give it to docker compose (the dev overlay of docker/ does).
set -euo pipefail
[[ $# -eq 0 ]] || { sed -n '2,5s/^# //p' "$0"; [[ "$1" == -h || "$1" == --help ]]; exit; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ -e .env ]] || { cp .env.example .env && echo "wrote $PWD/.env from .env.example"; }
echo "edit $PWD/.env, then load it: set -a; source $PWD/.env; set +a"
