"""Hand-made bad input files shared by the bad-input tests (no library code involved)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid 1-bit gray PNG of ``width`` x ``height`` black pixels: ~50 KB on disk,
    ``width * height`` bytes once OpenCV decodes it (400 MB for 20000 x 20000)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "none" + packed 1-bit pixels
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * min(1000, height - y)) for y in range(0, height, 1000))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", body + packer.flush()) + chunk(b"IEND", b""))
    return path
