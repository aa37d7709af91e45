#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and property tests, and the black-box HTTP tests
# on SQLite and on PostgreSQL. Installs and starts what it needs (PostgreSQL) when missing.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh
#   SKIP_DENY=1 scripts/test.sh  # without the dependency policy check (cargo deny)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

export DVC_TEST_PG_URL="${DVC_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; then
    return 0
  fi
  say "PostgreSQL is not answering on 127.0.0.1:5432; trying to start or install it"
  if ! command -v pg_ctlcluster >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL is needed for the PostgreSQL half of the tests: install it, or set DVC_TEST_PG_URL." >&2
      return 1
    fi
  fi
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  # Trust local TCP connections for the test user, as on the CI machines.
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && return 0; sleep 1; done
  echo "PostgreSQL did not start." >&2
  return 1
}

# cargo-deny, installed once and kept under the (CI-persistent) target directory: building it
# takes several minutes on two cores, so it is reused between runs.
CARGO_DENY_VERSION=0.20.2
ensure_cargo_deny() {
  local tools
  tools="$(realpath -m "${CARGO_TARGET_DIR:-target}")/tools"
  export PATH="$tools/bin:$PATH"
  if command -v cargo-deny >/dev/null && cargo-deny --version | grep -q "$CARGO_DENY_VERSION"; then
    return 0
  fi
  say "Installing cargo-deny $CARGO_DENY_VERSION into $tools (once)"
  CARGO_TARGET_DIR="$tools/build" cargo install --locked --quiet --root "$tools" \
    --version "$CARGO_DENY_VERSION" cargo-deny
  rm -rf "$tools/build"
}

if [ -z "${SKIP_LINT:-}" ]; then
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

if [ -z "${SKIP_DENY:-}" ]; then
  ensure_cargo_deny
  # Licences, banned crates and sources work offline. Known vulnerabilities (advisories) need
  # the RustSec database from GitHub, which this machine cannot reach: SECURITY.md explains.
  say "cargo deny check licenses bans sources"
  cargo deny --offline check licenses bans sources
fi

say "Unit, property and black-box tests on SQLite"
cargo test --all --quiet

say "Black-box tests on PostgreSQL"
ensure_postgres
DVC_TEST_BACKEND=postgres cargo test --quiet --test api

say "All tests passed."
