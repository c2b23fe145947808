#!/usr/bin/env bash
# Push brain-mri's serve and train images to a registry: the repo's
# docker/scripts/deploy.sh for this project (`--help` lists its options). Runs from any folder.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../../../../docker/scripts/deploy.sh" brain-mri "$@"
