#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with socd and its dev extra
# (test tools and the local Kafka/Elasticsearch servers). Safe to run again: it reinstalls
# only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "socd needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.socd-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing socd and its dev tools into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING' >&2 || true
  .venv/bin/python -m pip install --quiet -e '.[dev]' 2>&1 | grep -v '^WARNING' >&2 || true
  .venv/bin/python -c 'import socd, aiokafka, elasticsearch, sigma, noida_db' || {
    echo "installation failed; see the messages above" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
