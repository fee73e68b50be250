#!/usr/bin/env bash
# Install everything the tests need (apt + a virtualenv in the checkout), then run the suite:
# pure tests first (grammar, wire formats, engine fed by the packet generator), then the
# system tests (real terminals, sockets, processes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install.sh
PY=.venv/bin/python
$PY -m pytest tests --ignore=tests/system -p no:cacheprovider "$@"
$PY -m pytest tests/system -p no:cacheprovider "$@"
