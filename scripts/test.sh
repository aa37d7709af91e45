#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and property tests, the black-box HTTP tests on
# SQLite and on PostgreSQL (with the two-node and migrate-data tests, and attachments on an
# S3-compatible server), and the end-to-end browser tests (headless Chromium: journey,
# accessibility, page weight). Installs and starts what it needs (PostgreSQL, moto's S3 server,
# Chromium, npm packages) when missing.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh
#   SKIP_E2E=1 scripts/test.sh # without the browser tests (scripts/e2e.sh)
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

# An S3-compatible server for the object-storage test: moto's server, from PyPI, installed once
# into a virtualenv under the target directory when it is not already on PATH.
ensure_s3_server() {
  if [ -n "${DVC_TEST_S3_SERVER:-}" ] && [ -x "${DVC_TEST_S3_SERVER}" ]; then return 0; fi
  if command -v moto_server >/dev/null; then
    DVC_TEST_S3_SERVER="$(command -v moto_server)"
  else
    local venv="${CARGO_TARGET_DIR:-target}/s3-server-venv"
    if [ ! -x "$venv/bin/moto_server" ]; then
      say "Installing moto's S3 server (PyPI) into $venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet 'moto[server]'
    fi
    DVC_TEST_S3_SERVER="$(cd "$venv/bin" && pwd)/moto_server"
  fi
  export DVC_TEST_S3_SERVER
}

ensure_s3_server

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
  say "cargo check without the s3 feature"
  cargo check --quiet --no-default-features
fi

if [ -z "${SKIP_DENY:-}" ]; then
  ensure_cargo_deny
  # Licences, banned crates and sources work offline. Known vulnerabilities (advisories) need
  # the RustSec database from GitHub, which this machine cannot reach: SECURITY.md explains.
  say "cargo deny check licenses bans sources"
  # cargo deny reads the metadata of every target platform: fetch those crates first (crates.io is reachable).
  cargo fetch --quiet
  cargo deny --offline check licenses bans sources
fi

say "Unit, property and black-box tests on SQLite"
cargo test --all --quiet

say "Black-box tests on PostgreSQL (with two nodes, migrate-data and S3 storage)"
ensure_postgres
DVC_TEST_BACKEND=postgres cargo test --quiet --test api

if [ -z "${SKIP_E2E:-}" ]; then
  say "End-to-end browser tests"
  scripts/e2e.sh
fi

say "All tests passed."
