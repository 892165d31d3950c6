#!/usr/bin/env bash
# make test-browser: the playground page (Voilà on 127.0.0.1) driven by Playwright in the
# system Chromium. Debian's chromium (and a small CJK font, so screenshots show Chinese) are
# installed with apt-get when missing; no browser is downloaded from anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "error: ${missing[*]} missing and not root: run 'sudo apt-get install ${missing[*]}'" >&2
        exit 2
    fi
    echo ">> apt-get install ${missing[*]} (Debian packages, once)"
    log=$(mktemp)
    if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "error: apt-get could not install ${missing[*]} (output above)" >&2
        exit 2
    fi
    rm -f "$log"
    [ -x "$CHROMIUM" ] || CHROMIUM=$(command -v chromium)
fi

HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RECIPES_PROFILE=quick RECIPES_DEVICE=cpu \
    exec "$VENV/bin/python" tools/browser_playground.py --chromium "$CHROMIUM" "$@"
