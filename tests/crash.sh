#!/usr/bin/env bash
# kill -9 during mixed load, 20 times per database (tests/it/crashes.rs; CI runs 3), then the
# checks that nothing acknowledged was lost and nothing is half written. Rerunnable:
#   bash tests/crash.sh            # 20 rounds on SQLite and on PostgreSQL
#   DOCFLOW_CRASH_ROUNDS=50 bash tests/crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCFLOW_CRASH_ROUNDS=${DOCFLOW_CRASH_ROUNDS:-20}
exec bash tests/run.sh crashes:: --no-capture
