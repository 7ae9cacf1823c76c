#!/usr/bin/env bash
# The whole check, headless: lint, format, types, layering, then every test (incl. the real
# keychain in a private D-Bus session, the real window under Xvfb, and the .deb build+install).
# Extra arguments go to pytest (e.g. -m "not packaging" while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
V=.venv/bin
echo "== ruff format --check"; $V/ruff format --check app tests bench
echo "== ruff check";          $V/ruff check app tests bench
echo "== mypy (strict)"; $V/mypy
echo "== import-linter";       $V/lint-imports
echo "== pytest"
# A private D-Bus session with an unlocked gnome-keyring: the keychain tests use the real Secret
# Service; nothing touches the user's own keychain (HOME and XDG dirs are temporary).
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export KRAKEN_CANCEL_TEST_TMP="$T"
HOME="$T" XDG_DATA_HOME="$T/data" XDG_CONFIG_HOME="$T/config" XDG_RUNTIME_DIR="$T/run" \
  dbus-run-session -- sh -c 'mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR";
    echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null;
    exec "$0" -m pytest "$@"' "$PWD/$V/python" "$@"
