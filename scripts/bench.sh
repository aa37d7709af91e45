#!/usr/bin/env bash
# Benchmark: the portal against a bare axum baseline, on SQLite (WAL, synchronous=FULL) and on
# PostgreSQL (127.0.0.1:5432, user postgres; a fresh database is created and dropped), in one run.
# Builds in release mode, then runs dvc-bench (crates/bench), which prints a table and writes
# bench-results/latest.md and bench-results/latest.json (--quick: quick.md / quick.json).
#
#   scripts/bench.sh                 # full run, ~10 minutes on 2 cores
#   scripts/bench.sh --quick         # ~1-minute smoke run
#   scripts/bench.sh --backends sqlite --seconds 5
#   scripts/bench.sh --backends sqlite --phases crowd --crowd 10000   # the crowd alone
#   scripts/bench.sh --phases statistics                 # /thong-ke over 1,000,000 generated dossiers
#   scripts/bench.sh --phases statistics --dossiers 200000 --backends sqlite
#                                                        # → bench-results/statistics.md / .json
#   DVC_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
echo "==> cargo build --release (dichvucong, dvc-bench, dvc-baseline)" >&2
# Two invocations: built together, Cargo would unify reqwest's features across both packages and
# hand the load generator the portal's `rustls-no-provider` reqwest (a client that panics).
cargo build --release --quiet -p dichvucong
cargo build --release --quiet -p dvc-bench
if [[ " $* " != *" --backends "* ]] && ! (command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q); then
  echo "PostgreSQL is not answering on 127.0.0.1:5432: start it, or pass --backends sqlite." >&2
  exit 1
fi
# The crowd phase keeps 10,000 connections open: both ends need that many file descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$CARGO_TARGET_DIR/release/dvc-bench" \
  --pg-url "${DVC_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
  --command "scripts/bench.sh${*:+ $*}" "$@"
