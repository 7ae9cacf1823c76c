#!/usr/bin/env bash
# The soak (issue 11, item 9): installs what is missing (scripts/setup.sh --dev), then runs
# python -m bench.soak, which cancels orders on all five transports under every fault class of the
# simulator and prints one table per transport and a summary line. Figures, never pass/fail.
# Usage: scripts/soak.sh [--quick] [-v] [--only NAME] [--orders N] [python -m bench.soak args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
exec .venv/bin/python -m bench.soak "$@"
