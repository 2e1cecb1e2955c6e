#!/usr/bin/env bash
# Install what reelflow needs on a Debian machine: the media tools (ffmpeg, espeak-ng, fonts),
# a virtualenv in .venv and the project (with the test extras when called with --test; then also
# prometheus and prometheus-alertmanager, for promtool, amtool and a test Prometheus, and chromium,
# the headless browser that drives the Prefect UI in tests/infra/prefect/test_prefect_ui.py).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# The tests run promtool, amtool and a real Prometheus (tests/support/prometheus.py), and drive
# the Prefect UI in Debian's Chromium through Playwright (Playwright's own browser download is
# not used: tests/support/browser.py points it at /usr/bin/chromium).
test_tools=()
if [ -n "$extras" ]; then
  command -v promtool >/dev/null || test_tools+=(prometheus)
  command -v amtool >/dev/null || test_tools+=(prometheus-alertmanager)
  [ -x /usr/bin/chromium ] || test_tools+=(chromium)
fi
if [ "${#need[@]}" -gt 0 ] || [ "${#test_tools[@]}" -gt 0 ]; then
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
fi
if [ "${#test_tools[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${test_tools[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${test_tools[@]}" >/dev/null
  # Where an init system lets them, the packages start their daemons on :9090 and :9093; the
  # tests start their own Prometheus on a free loopback port. Stop only what was just installed.
  for service in "${test_tools[@]}"; do
    if [ -x "/etc/init.d/$service" ]; then
      $SUDO "/etc/init.d/$service" stop >/dev/null 2>&1 || true
    fi
  done
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi

stamp=".venv/.reelflow-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing reelflow${extras} into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras}"
  touch "$stamp"
fi
