#!/usr/bin/env bash
# Install the headless browser used by tests/test_site_browser.py: Debian's chromium.
# Idempotent: does nothing when /usr/bin/chromium is already there.
# Never run `playwright install` here: it downloads a browser build, which this network refuses.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-browser.sh: $CHROMIUM is missing and this user is not root and has no sudo." >&2
    echo "Install Debian's chromium as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser.sh: apt-get not found; install chromium so that $CHROMIUM exists." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update || ! "${SUDO[@]}" apt-get install -y chromium; then
    echo "install-browser.sh: apt-get could not install chromium (see the output above)." >&2
    exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser.sh: chromium was installed but $CHROMIUM is missing." >&2
    exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
