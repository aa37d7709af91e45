#!/usr/bin/env bash
# Longer hostile-input runs than the CI one (issue 7, item 3): the property targets of the domain
# crate (form validation, dossier codes, text folding, file names, upload inspection) and the
# generated multipart bodies against the real server, on SQLite and, when it answers, PostgreSQL.
# Every case count is multiplied by DVC_FUZZ_FACTOR; a failure prints the smallest input found.
#
#   scripts/fuzz.sh                       # ×20: ~1 million domain cases, 8,000 bodies per backend
#   DVC_FUZZ_FACTOR=100 scripts/fuzz.sh   # longer
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_FUZZ_FACTOR="${DVC_FUZZ_FACTOR:-20}"
export DVC_TEST_PG_URL="${DVC_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

say() { printf '\n==> %s\n' "$*"; }

say "Domain property targets ×$DVC_FUZZ_FACTOR"
cargo test --quiet -p dvc-domain --test hostile

say "Generated multipart bodies and hostile uploads against the server (SQLite) ×$DVC_FUZZ_FACTOR"
cargo test --quiet --test api hostile -- --nocapture

if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
  say "The same on PostgreSQL"
  DVC_TEST_BACKEND=postgres cargo test --quiet --test api hostile -- --nocapture
else
  say "PostgreSQL is not answering on 127.0.0.1:5432: skipped (scripts/test.sh starts it)"
fi

say "No failure."
