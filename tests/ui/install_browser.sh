#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests in tests/ui/ when it is absent:
# `apt-get update && apt-get install -y chromium`, only if /usr/bin/chromium is missing
# (a no-op otherwise). Playwright drives this system browser; `playwright install` is never
# used (it downloads browser builds, which machines here cannot fetch).
set -euo pipefail
CHROMIUM="${MEDBENCH_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
    echo "install_browser.sh: MEDBENCH_CHROMIUM=$CHROMIUM does not exist; unset it to use Debian's /usr/bin/chromium" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_browser.sh: /usr/bin/chromium is absent; install it as root: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: /usr/bin/chromium is absent and there is no apt-get here; install Chromium and set MEDBENCH_CHROMIUM" >&2
    exit 1
fi
echo "install_browser.sh: installing chromium with apt-get (needed by tests/ui)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
test -x /usr/bin/chromium
echo "install_browser.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)"
