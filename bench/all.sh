#!/usr/bin/env bash
# Every figure of docs/benchmarks.md in one go, one script after the other (each bounded in
# time; about 25 minutes on the 2-core machine the first time, when growth.sh also builds its
# 10^6-user database, about 20 afterwards). Logs and results: target/bench-run/.
set -euo pipefail
here=$(dirname "$0")
"$here/core.sh"
"$here/server.sh" sqlite
"$here/server.sh" postgres
"$here/growth.sh"
