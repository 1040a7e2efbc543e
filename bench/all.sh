#!/usr/bin/env bash
# Every figure of docs/benchmarks.md in one go, one script after the other (each bounded in
# time; about 28 minutes on the 2-core machine the first time, when growth.sh and storage.sh
# also build their databases, about 22 afterwards). Logs and results: target/bench-run/.
set -euo pipefail
here=$(dirname "$0")
"$here/core.sh"
"$here/server.sh" sqlite
"$here/server.sh" postgres
"$here/storage.sh"
"$here/growth.sh"
