#!/usr/bin/env bash
# Install the system tools the tests drive: Debian's chromium (tests/test_site_browser.py),
# pdflatex + bibtex (texlive-latex-base, texlive-latex-recommended) and pdftoppm
# (poppler-utils) for tests/test_paper.py. Idempotent: does nothing when all are there.
# Never run `playwright install` here: it downloads a browser build, which this network refuses.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium texlive-latex-base texlive-latex-recommended poppler-utils)
if [ -x "$CHROMIUM" ] && command -v pdflatex >/dev/null && command -v bibtex >/dev/null \
        && command -v pdftoppm >/dev/null && kpsewhich booktabs.sty >/dev/null; then
    echo "test tools already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-test-tools.sh: tools are missing and this user is not root and has no sudo." >&2
    echo "As root: apt-get update && apt-get install -y ${PACKAGES[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools.sh: apt-get not found; install chromium so that $CHROMIUM exists." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update || ! "${SUDO[@]}" apt-get install -y "${PACKAGES[@]}"; then
    echo "install-test-tools.sh: apt-get could not install ${PACKAGES[*]} (see above)." >&2
    exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install-test-tools.sh: chromium was installed but $CHROMIUM is missing." >&2
    exit 1
fi
echo "installed: $("$CHROMIUM" --version 2>/dev/null), $(pdflatex --version | head -1)"
