#!/usr/bin/env bash
# Start brain-mri's compose stack (model init step + server): the repo's
# docker/scripts/run.sh for this project (`--help` lists its options). Runs from any folder.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../../../../docker/scripts/run.sh" brain-mri "$@"
