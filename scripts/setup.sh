#!/usr/bin/env bash
# Installs what the console needs, only what is missing: Qt's system libraries (apt), a venv, the
# Python packages. Safe to run again. Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian/Ubuntu packages (shared/ENV.md): Qt offscreen + xcb, Xvfb/xdotool for the window test,
# x11-utils (xmessage: "another application" in the global hotkey's test), gnome-keyring + dbus for
# the real keychain, binutils for PyInstaller; gcc, libc6-dev, linux-libc-dev and python3-dev build
# evdev (pynput's Linux dependency, published as source only).
APT_PKGS="python3 python3-venv python3-dev ca-certificates binutils gcc libc6-dev linux-libc-dev
  libglib2.0-0 libegl1 libgl1 libdbus-1-3
  libfontconfig1 libxkbcommon0 xvfb xauth xdotool x11-utils libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-render-util0 libxcb-shape0 libxkbcommon-x11-0 gnome-keyring dbus fonts-dejavu-core"

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "Missing system packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing system packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 or newer is needed" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $PY" >&2
  "$PY" -m venv .venv >&2
fi
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
stamp=".venv/.installed$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2 || true
  .venv/bin/python -m pip install -q -e ".$extra" >&2
  touch "$stamp"
fi
