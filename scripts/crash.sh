#!/usr/bin/env bash
# Crash test, long version: kill -9 the server N times while citizens submit, and check after
# every restart that each dossier whose code reached a citizen is there with its attachments
# (SHA-256 checked), that its confirmation e-mail goes out, and that `PRAGMA integrity_check`
# passes. The same test runs in CI with 3 kills (tests/api/crash.rs).
#
#   scripts/crash.sh                 # 20 kills, 4 concurrent citizens, SQLite
#   scripts/crash.sh 50 8            # 50 kills, 8 citizens
#   DVC_TEST_BACKEND=postgres scripts/crash.sh 20
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_CRASH_KILLS="${1:-20}"
export DVC_CRASH_CLIENTS="${2:-4}"
export DVC_TEST_PG_URL="${DVC_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
echo "==> crash test: $DVC_CRASH_KILLS kills, $DVC_CRASH_CLIENTS clients, backend ${DVC_TEST_BACKEND:-sqlite} (release build)" >&2
exec cargo test --release --test api -- --exact crash::acknowledged_dossiers_survive_kill_9 --nocapture
