#!/usr/bin/env bash
# The benchmarks (issue 7): installs the dev + bench extras (ccxt), then runs python -m bench, which
# prints the table and writes bench/RESULTS.md. Usage: scripts/bench.sh [--quick] [python -m bench args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if ! .venv/bin/python -c "import ccxt" 2>/dev/null; then
  # Only the bench extra's one package: an editable reinstall would point a venv shared by
  # several worktrees at this one.
  .venv/bin/python -m pip install -q "ccxt>=4.3" >&2
fi
exec .venv/bin/python -m bench "$@"
