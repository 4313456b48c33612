#!/usr/bin/env bash
# Installs what is missing, builds ./build, then runs the server with the
# given arguments (a zoo.cfg path). With no arguments Cheetah runs standalone
# on 127.0.0.1:2181 with its data in ./data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec build/dataplane/cheetah-server "$@"
