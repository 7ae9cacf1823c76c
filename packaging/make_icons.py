"""Regenerates the app icon's PNG, .ico and .icns files from resources/icons/kraken-cancel.svg."""

# A build-time tool, run by hand when the SVG changes; its outputs are committed, so neither the
# app nor scripts/package.sh needs it. Qt (in the project's venv) rasterises the SVG at every size,
# Pillow (build-time only: `pip install --target /tmp/pil pillow`, then PYTHONPATH=/tmp/pil) writes
# the multi-size .ico (Windows) and .icns (macOS) containers.
#
#   QT_QPA_PLATFORM=offscreen PYTHONPATH=/tmp/pil .venv/bin/python packaging/make_icons.py

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "kraken-cancel.svg"
NAME = "kraken-cancel"

# The freedesktop hicolor theme's usual sizes (the .deb installs each under <n>x<n>/apps/).
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # Windows uses 16..256; 256 is stored as PNG
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # macOS: 16..512 at 1x and 2x


def render(size: int) -> bytes:
    """The SVG drawn at ``size`` x ``size`` pixels, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def main() -> int:
    """Write kraken-cancel-<n>.png for each size, kraken-cancel.ico and kraken-cancel.icns."""
    try:
        from PIL import Image
    except ImportError:
        print("make_icons needs Pillow at build time: pip install --target /tmp/pil pillow", file=sys.stderr)
        return 1
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    rendered = {n: render(n) for n in sorted({*PNG_SIZES, *ICO_SIZES, *ICNS_SIZES})}
    for n in PNG_SIZES:
        (ICONS / f"{NAME}-{n}.png").write_bytes(rendered[n])
    images = {n: Image.open(io.BytesIO(png)).convert("RGBA") for n, png in rendered.items()}
    # Each size drawn from the vector, not scaled down from the largest: crisper small icons.
    images[256].save(
        ICONS / f"{NAME}.ico",
        format="ICO",
        sizes=[(n, n) for n in ICO_SIZES],
        append_images=[images[n] for n in ICO_SIZES if n != 256],
    )
    images[1024].save(
        ICONS / f"{NAME}.icns",
        format="ICNS",
        append_images=[images[n] for n in ICNS_SIZES if n != 1024],
    )
    del app
    for p in sorted(ICONS.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
