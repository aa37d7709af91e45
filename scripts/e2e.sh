#!/usr/bin/env bash
# End-to-end browser tests: the citizen journey and the officer's flow (back office, accounts
# created with `dichvucong staff create`) in headless Chromium, accessibility (axe-core,
# WCAG 2.0/2.1/2.2 A and AA), keyboard-only use, reflow at 320 px / 200 % zoom, page weight,
# and screenshots at phone and desktop widths (tests/e2e/output/, ignored by git).
#
#   scripts/e2e.sh                 # install what is missing, build, start two portals, test
#   E2E_SKIP_BUILD=1 scripts/e2e.sh
#   E2E_TESTS=tests/officer.test.mjs scripts/e2e.sh   # one file only
#
# On a fresh Debian machine (as root) it installs Chromium from Debian (`chromium`,
# `chromium-driver`) and the npm packages of tests/e2e (`npm ci`). playwright-core drives
# /usr/bin/chromium; it never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

say() { printf '\n==> %s\n' "$*"; }

# --- What the tests need -------------------------------------------------------------------
apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "Missing: $*. Install them (Debian: apt-get install -y $*)." >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  say "Installing Chromium (Debian packages chromium, chromium-driver)"
  apt_install chromium chromium-driver
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "Installing Node.js and npm"
  apt_install nodejs npm
fi
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "Node.js 20 or newer is needed (found $(node --version))." >&2
  exit 1
fi

if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/axe-core ] ||
   [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  say "npm ci (tests/e2e)"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -d tests/oidc/node_modules/oidc-provider ] || [ ! -d tests/oidc/node_modules/jose ] ||
   [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; then
  say "npm ci (tests/oidc: the OpenID Connect provider of the sign-in test)"
  (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- The binary ----------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug/dichvucong"
if [ -z "${E2E_SKIP_BUILD:-}" ]; then
  say "cargo build"
  cargo build --quiet --bin dichvucong
fi
[ -x "$BIN" ] || { echo "No binary at $BIN (cargo build)." >&2; exit 1; }

# --- Two portals: the verification code off (the journey), and on (its page) ----------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dvc-e2e.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_server NAME CAPTCHA: listens on a free port (127.0.0.1:0, the OS chooses) with a fresh
# data dir; sets URL_<NAME> and DATA_<NAME>.
start_server() {
  local name=$1 captcha=$2 data="$WORK/$1" log="$WORK/$1.log" url=""
  mkdir -p "$data"
  env -u DVC_SMTP_URL -u DVC_DATABASE_URL -u DVC_BASE_URL \
    DVC_LISTEN=127.0.0.1:0 DVC_DATA_DIR="$data" DVC_CAPTCHA="$captcha" DVC_LOG="${DVC_LOG:-warn}" \
    "$BIN" serve >"$log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 300); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
    if [ -n "$url" ] && node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url/healthz"; then
      printf -v "URL_$name" '%s' "$url"
      printf -v "DATA_$name" '%s' "$data"
      echo "portal ($captcha captcha) at $url"
      return 0
    fi
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "The portal ($name) did not start:" >&2
  cat "$log" >&2
  exit 1
}

say "Starting the portals"
start_server off off
start_server image image

# Back-office accounts for the officer's flow (tests/e2e/tests/officer.test.mjs), created with
# the CLI in the running portal's database (SQLite: the server keeps running).
say "Creating back-office accounts (000.00.02.H31)"
export DVC_E2E_STAFF_PASSWORD='một câu mật khẩu dài cho kiểm thử'
create_staff() { # email name title role
  printf '%s\n' "$DVC_E2E_STAFF_PASSWORD" |
    env -u DVC_DATABASE_URL DVC_DATA_DIR="$DATA_off" DVC_LOG=warn \
      "$BIN" staff create --email "$1" --name "$2" --title "$3" --role "$4" --agency 000.00.02.H31 >/dev/null
}
create_staff motcua@e2e.hongbang.gov.vn "Nguyễn Văn Một" "Công chức Bộ phận Một cửa" reception
create_staff chuyenvien@e2e.hongbang.gov.vn "Trần Thị Hai" "Công chức Tư pháp - Hộ tịch" specialist
create_staff lanhdao@e2e.hongbang.gov.vn "Lê Văn Ba" "Phó Chủ tịch UBND phường" leader
create_staff quantri@e2e.hongbang.gov.vn "Phạm Thị Bốn" "Quản trị hệ thống" admin

export DVC_E2E_URL="$URL_off" DVC_E2E_DATA_DIR="$DATA_off" DVC_E2E_CAPTCHA_URL="$URL_image"
export DVC_E2E_BIN="$BIN" DVC_E2E_STAFF_READY=1

# --- The tests -----------------------------------------------------------------------------
say "End-to-end browser tests (node --test)"
rm -rf tests/e2e/output
mkdir -p tests/e2e/output
status=0
(cd tests/e2e && node --test --test-concurrency="${E2E_CONCURRENCY:-2}" --test-reporter=spec ${E2E_TESTS:-tests/}) || status=$?
if [ "$status" != 0 ]; then
  echo "End-to-end tests FAILED. Server logs:" >&2
  tail -n 40 "$WORK"/*.log >&2 || true
  exit "$status"
fi
echo "Screenshots and measurements: tests/e2e/output/"
