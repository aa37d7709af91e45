#!/usr/bin/env bash
# Runs every test: formatting and lints, unit and property tests, the black-box HTTP tests on
# SQLite and on PostgreSQL (with the two-node and migrate-data tests, and attachments on an
# S3-compatible server), and the end-to-end browser tests (headless Chromium: journey,
# accessibility, page weight). Installs and starts what it needs (PostgreSQL, moto's S3 server,
# ClamAV's daemon, Chromium, npm packages, the test OpenID Connect provider) when missing.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh
#   SKIP_E2E=1 scripts/test.sh # without the browser tests (scripts/e2e.sh)
#   SKIP_DENY=1 scripts/test.sh  # without the dependency policy check (cargo deny)
#
# PostgreSQL: DVC_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used as
# given, host and port included. When it names this machine and does not accept the connection,
# the script installs/starts PostgreSQL, adds `trust` for 127.0.0.1 and ::1 to the Debian
# cluster's pg_hba.conf and reloads it (as root), or else starts a throwaway cluster of its own
# (initdb, trust, fsync off) in /tmp and points DVC_TEST_PG_URL at it.
#
# The end lists the stages that ran and those skipped (and why); "All tests passed." is printed
# only when none was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Which stages ran, and which were skipped and why: "All tests passed" only when none was.
RAN=()
SKIPPED=()
ran() { RAN+=("$1"); }
skipped() {
  SKIPPED+=("$1 ($2)")
  say "SKIPPED: $1 — $2"
}

export DVC_TEST_PG_URL="${DVC_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# The parts of DVC_TEST_PG_URL (postgres://user[:password]@host[:port]/database[?…]).
parse_pg_url() {
  local rest="${DVC_TEST_PG_URL#*://}" auth=""
  rest="${rest%%\?*}"
  if [[ "$rest" == *@* ]]; then auth="${rest%@*}"; rest="${rest##*@}"; fi
  local hostport="${rest%%/*}"
  PG_DB="${rest#*/}"; [ "$PG_DB" = "$rest" ] && PG_DB=postgres
  PG_USER="${auth%%:*}"; PG_USER="${PG_USER:-postgres}"
  PG_HOST="${hostport%:*}"; PG_PORT="${hostport##*:}"
  if [ "$PG_PORT" = "$hostport" ]; then PG_HOST="$hostport"; PG_PORT=5432; fi
  PG_HOST="${PG_HOST:-127.0.0.1}"
}

# True when the tests can connect with DVC_TEST_PG_URL (authentication included).
pg_connects() {
  if command -v psql >/dev/null; then
    psql "$DVC_TEST_PG_URL" -Atqc 'SELECT 1' >/dev/null 2>&1
  else
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null
  fi
}

pg_answers() { command -v pg_isready >/dev/null && pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; }

# The Debian cluster ("15 main") listening on PG_PORT, if any.
debian_cluster() {
  command -v pg_lsclusters >/dev/null || return 1
  pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }' | grep .
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A throwaway cluster of our own (initdb, trust authentication, 127.0.0.1 only), stopped when
# this script ends; DVC_TEST_PG_URL is pointed at it.
PRIVATE_PG=""
start_private_cluster() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || initdb=$(command -v initdb || true)
  [ -n "$initdb" ] || { echo "initdb not found: cannot start a PostgreSQL cluster of our own." >&2; return 1; }
  local bin port
  bin=$(dirname "$initdb")
  port="$PG_PORT"
  if ! port_is_free "$port"; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  PRIVATE_PG=$(mktemp -d /tmp/dvc-test-pg.XXXXXX)
  local as=()
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    chown postgres: "$PRIVATE_PG" && as=(runuser -u postgres --)
  fi
  say "Starting a PostgreSQL cluster of our own on 127.0.0.1:$port ($PRIVATE_PG, trust authentication)"
  "${as[@]}" "$bin/initdb" -D "$PRIVATE_PG/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PRIVATE_PG/data" -l "$PRIVATE_PG/log" -w \
    -o "-k $PRIVATE_PG -h 127.0.0.1 -p $port -c max_connections=300 -c fsync=off" start >/dev/null
  trap 'stop_private_cluster' EXIT
  export DVC_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  parse_pg_url
}
stop_private_cluster() {
  [ -n "$PRIVATE_PG" ] || return 0
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || command -v pg_ctl)")/pg_ctl" \
    -D "$PRIVATE_PG/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PRIVATE_PG"
}

# Makes DVC_TEST_PG_URL usable: it must accept a connection as its user. A remote server is only
# probed (host and port from the URL); on this machine PostgreSQL is installed, started, and
# told to trust local TCP connections (a stock Debian cluster asks for a password) when needed,
# or a throwaway cluster is started.
ensure_postgres() {
  parse_pg_url
  if pg_connects; then return 0; fi
  case "$PG_HOST" in
    127.0.0.1 | localhost | ::1 | '[::1]') ;;
    *)
      echo "Cannot connect to PostgreSQL at $PG_HOST:$PG_PORT as $PG_USER (DVC_TEST_PG_URL): start it, or fix the URL." >&2
      return 1
      ;;
  esac
  say "PostgreSQL does not accept $PG_USER on $PG_HOST:$PG_PORT; trying to install, start or configure it"
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL is needed for the PostgreSQL half of the tests: install it, or set DVC_TEST_PG_URL." >&2
      return 1
    fi
  fi
  local cluster
  if cluster=$(debian_cluster) && [ "$(id -u)" = 0 ]; then
    # shellcheck disable=SC2086
    set -- $cluster
    if ! pg_answers; then
      pg_ctlcluster --skip-systemctl-redirect "$1" "$2" start || true
      for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
    fi
    if ! pg_connects; then
      # Trust local TCP connections, as on the CI machines (first matching line wins).
      local hba="/etc/postgresql/$1/$2/pg_hba.conf"
      if [ -f "$hba" ] && ! grep -q 'dichvucong tests' "$hba"; then
        say "Trusting local TCP connections in $hba (for the tests)"
        sed -i '1i # dichvucong tests: trust local TCP connections\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$1" "$2" reload || true
        sleep 1
      fi
    fi
    pg_connects && return 0
  fi
  # Not ours to configure (or not root): a throwaway cluster of our own.
  start_private_cluster || return 1
  for _ in $(seq 1 30); do pg_connects && return 0; sleep 1; done
  echo "PostgreSQL did not start (see $PRIVATE_PG/log)." >&2
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

# ClamAV's daemon for the antivirus tests: Debian's clamav-daemon package, installed when missing
# (as root). The tests start clamd themselves with a signature database they write (the EICAR
# test file and a marker string), so no signature download and no system service is needed.
# Without it those tests fail with instructions, never skip.
ensure_clamd() {
  if [ -n "${DVC_TEST_CLAMD:-}" ] && [ -x "${DVC_TEST_CLAMD}" ]; then return 0; fi
  local found
  for found in /usr/sbin/clamd /usr/local/sbin/clamd "$(command -v clamd || true)"; do
    if [ -n "$found" ] && [ -x "$found" ]; then
      export DVC_TEST_CLAMD="$found"
      return 0
    fi
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "Installing ClamAV's daemon (Debian package clamav-daemon) for the antivirus tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav-daemon >/dev/null
    export DVC_TEST_CLAMD=/usr/sbin/clamd
  else
    echo "ClamAV's daemon is needed by the antivirus tests: install it (Debian: apt-get install -y clamav-daemon), or set DVC_TEST_CLAMD to a clamd binary." >&2
    return 1
  fi
}

ensure_clamd

# The OpenID Connect provider of the sign-in tests (tests/api/signin.rs): the npm package
# oidc-provider, started by the tests with tests/oidc/provider.mjs. Needs Node.js >= 20 (installed
# from Debian when missing, as root) and the packages of tests/oidc (`npm ci`). Without them those
# tests fail with instructions, never skip.
ensure_oidc_provider() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "Installing Node.js and npm (Debian packages nodejs, npm) for the sign-in tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "Node.js >= 20 and npm are needed by the sign-in tests (Debian: apt-get install -y nodejs npm)." >&2
      return 1
    fi
  fi
  if [ ! -d tests/oidc/node_modules/oidc-provider ] || [ ! -d tests/oidc/node_modules/jose ] ||
     [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; then
    say "npm ci (tests/oidc: the test OpenID Connect provider)"
    (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_oidc_provider
# Independent PDF signature validators for the signed electronic results (tests/api/results.rs):
# poppler's pdfsig (Debian package poppler-utils, installed when missing, as root) and pyHanko
# (PyPI: pyhanko and pyhanko-certvalidator, installed once into a virtualenv under the target
# directory unless the system Python already has them). DVC_TEST_REQUIRE_PDF_VALIDATORS=1 makes
# the tests fail, never skip, when one is missing.
ensure_pdf_validators() {
  if ! command -v pdfsig >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "Installing poppler's pdfsig (Debian package poppler-utils) for the signature tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
    else
      echo "poppler's pdfsig is needed by the signature tests: install it (Debian: apt-get install -y poppler-utils)." >&2
      return 1
    fi
  fi
  if [ -z "${DVC_TEST_PYTHON:-}" ]; then
    if python3 -c 'import pyhanko, pyhanko_certvalidator' 2>/dev/null; then
      DVC_TEST_PYTHON="$(command -v python3)"
    else
      local venv="${CARGO_TARGET_DIR:-target}/pyhanko-venv"
      if ! "$venv/bin/python" -c 'import pyhanko, pyhanko_certvalidator' 2>/dev/null; then
        say "Installing pyHanko (PyPI) into $venv for the signature tests"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet pyhanko pyhanko-certvalidator
      fi
      DVC_TEST_PYTHON="$(cd "$venv/bin" && pwd)/python"
    fi
  fi
  export DVC_TEST_PYTHON
  export DVC_TEST_REQUIRE_PDF_VALIDATORS=1
}

ensure_pdf_validators

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
  ran "formatting and lints"
else
  skipped "formatting and lints" "SKIP_LINT=${SKIP_LINT} is set"
fi

if [ -z "${SKIP_DENY:-}" ]; then
  ensure_cargo_deny
  # Licences, banned crates and sources work offline. Known vulnerabilities (advisories) need
  # the RustSec database from GitHub, which this machine cannot reach: SECURITY.md explains.
  say "cargo deny check licenses bans sources"
  # cargo deny reads the metadata of every target platform: fetch those crates first (crates.io is reachable).
  cargo fetch --quiet
  cargo deny --offline check licenses bans sources
  ran "dependency policy (cargo deny)"
else
  skipped "dependency policy (cargo deny)" "SKIP_DENY=${SKIP_DENY} is set"
fi

say "Unit, property and black-box tests on SQLite"
cargo test --all --quiet
ran "unit, property and black-box tests on SQLite"

say "Black-box tests on PostgreSQL (with two nodes, migrate-data and S3 storage)"
ensure_postgres
echo "PostgreSQL: $PG_HOST:$PG_PORT as $PG_USER"
DVC_TEST_BACKEND=postgres cargo test --quiet --test api
ran "black-box tests on PostgreSQL"

if [ -z "${SKIP_E2E:-}" ]; then
  say "End-to-end browser tests"
  scripts/e2e.sh
  ran "end-to-end browser tests"
else
  skipped "end-to-end browser tests" "SKIP_E2E=${SKIP_E2E} is set"
fi

say "Stages run: ${#RAN[@]}"
for r in "${RAN[@]}"; do echo "  ran:     $r"; done
for r in "${SKIPPED[@]}"; do echo "  skipped: $r"; done
if [ "${#SKIPPED[@]}" -eq 0 ]; then
  say "All tests passed."
else
  say "Tests passed, but ${#SKIPPED[@]} stage(s) were skipped: $(IFS=';'; echo "${SKIPPED[*]}")"
fi
