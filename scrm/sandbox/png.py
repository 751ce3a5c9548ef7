"""Render a QR code as PNG bytes with the `qrcode` package's matrix and a tiny PNG encoder.

The pinned `qrcode` needs Pillow or PyPNG to write PNGs; neither is a dependency, and an
8-bit grayscale PNG is a few lines of zlib and CRC.
"""

from __future__ import annotations

import struct
import zlib

import qrcode


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(text: str, width: int = 430) -> bytes:
    """A PNG of ``text`` as a QR code, about ``width`` pixels wide (a whole-pixel module size)."""
    qr = qrcode.QRCode(border=4)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    scale = max(1, width // len(matrix))
    rows = []
    for row in matrix:
        line = b"".join(b"\x00" * scale if dark else b"\xff" * scale for dark in row)
        rows.extend([b"\x00" + line] * scale)  # filter type 0 per scanline
    size = len(matrix) * scale
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)),
            _chunk(b"IEND", b""),
        )
    )
