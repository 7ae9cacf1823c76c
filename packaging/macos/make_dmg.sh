#!/usr/bin/env bash
# Wraps "dist/Kraken Cancel Console.app" (the BUNDLE step of packaging/kraken-cancel.spec, run on
# macOS) in dist/kraken-cancel-<version>-macos-<arch>.dmg: the app beside an /Applications link, so
# installing is a drag. macOS only (hdiutil). Usage, from the repository:
#   pyinstaller --noconfirm --distpath dist --workpath packaging/build packaging/kraken-cancel.spec
#   bash packaging/macos/make_dmg.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
APP="dist/Kraken Cancel Console.app"
[ -d "$APP" ] || { echo "make_dmg.sh: no $APP (run PyInstaller with packaging/kraken-cancel.spec on macOS first)" >&2; exit 1; }

version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$APP/Contents/Info.plist")
out="dist/kraken-cancel-${version}-macos-$(uname -m).dmg"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# ditto keeps the bundle's symlinks, permissions and code signature intact (cp -R may not).
ditto "$APP" "$stage/$(basename "$APP")"
ln -s /Applications "$stage/Applications"
# The licence notices beside the app, readable before installing (the app has them in Contents/).
cp "$APP/Contents/Frameworks/THIRD-PARTY-NOTICES.txt" "$stage/THIRD-PARTY-NOTICES.txt"  # the bundle's data folder (sys._MEIPASS)
rm -f "$out"
# hdiutil fails now and then with "Resource busy" on CI machines: try again before giving up.
for attempt in 1 2 3; do
  hdiutil create -volname "Kraken Cancel Console" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$out" && break
  [ "$attempt" = 3 ] && exit 1
  echo "make_dmg.sh: hdiutil create failed, retrying" >&2
  sleep 5
done
hdiutil verify "$out"
echo "$out  $(du -h "$out" | cut -f1)"
