#!/usr/bin/env bash
# Build brain-mri's serve or train image: the repo's
# docker/scripts/build.sh for this project (`--help` lists its options). Runs from any folder.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../../../../docker/scripts/build.sh" brain-mri "$@"
