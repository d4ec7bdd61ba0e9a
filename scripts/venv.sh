#!/usr/bin/env bash
# Create .venv (if missing) and install the plugin into it, editable, with the given extras.
# Usage: scripts/venv.sh EXTRAS      e.g. scripts/venv.sh qt   or   scripts/venv.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$1]"
