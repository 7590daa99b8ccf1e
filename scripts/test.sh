#!/usr/bin/env bash
# The test command: lint, type-check, then every test. Integration tests start their own
# Kafka and Elasticsearch on free loopback ports unless SOCD_TEST_KAFKA and
# SOCD_TEST_ELASTICSEARCH point at running servers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/test-tools.sh
echo "==> ruff" >&2
.venv/bin/ruff check socd tests bench
echo "==> mypy --strict" >&2
.venv/bin/mypy
echo "==> pytest" >&2
exec .venv/bin/pytest "$@"
