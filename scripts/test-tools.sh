#!/usr/bin/env bash
# Install the programs the tests run, where they are missing: promtool and prometheus
# (Debian/Ubuntu package prometheus) and amtool and prometheus-alertmanager (package
# prometheus-alertmanager) for the tests of deploy/prometheus/; chromium (package chromium)
# for the screenshot of the html period report; stunnel4 (package stunnel4) to put TLS in
# front of the local Kafka and Elasticsearch (tests/integration/test_tls.py); docker-compose
# (package docker-compose: `config` validates deploy/compose/ without a Docker daemon,
# tests/unit/test_compose.py) unless `docker compose` is there. Does nothing
# when they are present, so it
# is cheap to run before every test run.
#
# Installing needs apt-get and root (or password-less sudo). Where that is impossible, or
# the installation fails (no network), it says why on stderr and exits 0: the tests that
# need the programs then skip with that reason. With SOCD_REQUIRE_TEST_TOOLS=1 (CI) it
# exits 1 instead, so that the tests cannot be skipped silently.
# The services the packages may start are stopped and disabled again: the tests run the
# programs themselves, on free ports.
set -euo pipefail
# CI must exercise the tools, not skip them
if [ "${CI:-}" = true ]; then SOCD_REQUIRE_TEST_TOOLS=${SOCD_REQUIRE_TEST_TOOLS:-1}; fi

missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 \
  || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1 \
  || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || missing+=(chromium)
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 \
  || missing+=(stunnel4)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
  || missing+=(docker-compose)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cannot() {
  echo "test-tools: cannot install ${missing[*]} ($1); the tests that need them will be skipped" >&2
  if [ "${SOCD_REQUIRE_TEST_TOOLS:-0}" = 1 ]; then
    exit 1
  fi
  exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "no apt-get on this system"
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  cannot "not root, and no password-less sudo"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
     -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
echo "==> installing ${missing[*]} for the tests" >&2
# The package lists may be missing or stale (a fresh container): update and try again.
if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"; } \
      >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    cannot "apt-get failed"
  fi
fi

if [ -d /run/systemd/system ]; then
  for unit in "${missing[@]}"; do  # the packages' units are named after them
    [ "$unit" = chromium ] && continue
    "${as_root[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
for program in promtool prometheus amtool prometheus-alertmanager; do
  command -v "$program" >/dev/null 2>&1 || cannot "$program is still missing after apt-get"
done
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || cannot "chromium is still missing after apt-get"
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 \
  || cannot "stunnel4 is still missing after apt-get"
