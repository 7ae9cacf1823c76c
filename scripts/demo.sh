#!/usr/bin/env bash
# Starts the console on the built-in simulated exchange (demo mode). Extra arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "No display found: running on a virtual screen (xvfb-run). Use --screenshot PATH to see it." >&2
  exec xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m app --demo "$@"
fi
exec .venv/bin/python -m app --demo "$@"
