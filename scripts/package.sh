#!/usr/bin/env bash
# Builds the Linux installers in one command: the PyInstaller bundle (dist/kraken-cancel/) and the
# .deb (dist/kraken-cancel_<version>_<arch>.deb); prints their sizes and the build time, and writes
# them to dist/package-stats.json. Windows and macOS installers are built on their own OS by
# .github/workflows/installers.yml. Usage: bash scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)

# PyInstaller (the dev extra) and binutils (objdump, which PyInstaller needs on Linux): only what is missing.
bash scripts/setup.sh --dev
for tool in objdump dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (apt-get install binutils dpkg)" >&2; exit 1; }
done

echo "== PyInstaller: dist/kraken-cancel/" >&2
t0=$(date +%s.%N)
.venv/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath packaging/build \
  packaging/kraken-cancel.spec >&2
t1=$(date +%s.%N)

echo "== .deb" >&2
.venv/bin/python packaging/build_deb.py --bundle dist/kraken-cancel --out dist >&2
t2=$(date +%s.%N)

version=$(.venv/bin/python -c 'import ast,sys; t=ast.parse(open("app/__init__.py").read()); print(next(ast.literal_eval(n.value) for n in t.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__version__"))')
deb="dist/kraken-cancel_${version}_$(dpkg --print-architecture).deb"
bundle_bytes=$(du -sb dist/kraken-cancel | cut -f1)
deb_bytes=$(stat -c %s "$deb")
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
cat > dist/package-stats.json <<EOF
{"version": "$version", "deb": "$deb", "bundle_bytes": $bundle_bytes, "deb_bytes": $deb_bytes,
 "pyinstaller_s": $(secs "$t0" "$t1"), "deb_s": $(secs "$t1" "$t2"), "total_s": $(secs "$started" "$t2")}
EOF
echo "bundle  dist/kraken-cancel/  $(awk -v b="$bundle_bytes" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
echo "deb     $deb  $(awk -v b="$deb_bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')"
echo "time    PyInstaller $(secs "$t0" "$t1") s, .deb $(secs "$t1" "$t2") s, total $(secs "$started" "$t2") s"
echo "install: sudo apt-get install ./$deb   (then: kraken-cancel --self-check; kraken-cancel --demo)"
