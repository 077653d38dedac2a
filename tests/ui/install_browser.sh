#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests in tests/ui/ when it is absent.
# A no-op where /usr/bin/chromium (or $MEDBENCH_CHROMIUM) already exists. Playwright drives
# this system browser; `playwright install` is never used (it downloads its own builds).
set -euo pipefail
CHROMIUM="${MEDBENCH_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser.sh: $CHROMIUM is absent and installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: $CHROMIUM is absent and there is no apt-get here; install Chromium and set MEDBENCH_CHROMIUM" >&2
    exit 1
fi
echo "install_browser.sh: installing chromium with apt-get (needed by tests/ui)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
"$CHROMIUM" --version
