#!/usr/bin/env bash
# Set up a fresh virtual environment and run the whole synthkit test suite.
#   bash scripts/test.sh                 # everything (unit, parity, pipelines, notebooks, demos, browser)
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
# Env: PYTHON (default python3), VENV (default .venv), SYNTHKIT_SKIP_BROWSER=1 to skip the Chromium test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"

# The real-browser demo test drives Debian's Chromium through Playwright (Playwright's own browser download
# does not work everywhere). Install it when we can; otherwise the browser test says how.
if [ -z "${SYNTHKIT_SKIP_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the browser test..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the browser test will fail and say how to fix it"
  fi
fi

set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests (exit 5): the test suite is missing or was filtered away" >&2
  exit 1
fi
exit "$rc"
