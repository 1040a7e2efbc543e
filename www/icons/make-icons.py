#!/usr/bin/env python3
# Draws the installable app's icons (www/icons/*.png): a flat square in the brand blue of
# www/cloud-otp.css with a white timer ring and six dots, as the code screen shows the time
# left. Two colours, one bit a pixel, no antialiasing: each file stays under 2 KB (the icons'
# budget is in tests/e2e/size.test.mjs). Standard library only (zlib), no network:
#   python3 www/icons/make-icons.py      (rewrites the PNGs beside this script)
# The shapes sit inside the inner 80 % of the square, so a launcher that masks the icon into a
# circle (a maskable icon) cuts no part of them.
import struct
import zlib
from pathlib import Path

BLUE = (0x1B, 0x5A, 0xA0)
WHITE = (0xFF, 0xFF, 0xFF)
SIZES = {'icon-192.png': 192, 'icon-512.png': 512, 'apple-touch-icon.png': 180}


def inside(x, y):
    """Whether point (x, y) of the unit square (0..1) is white."""
    # The ring: centre (0.5, 0.44), radii 0.16 and 0.24.
    d2 = (x - 0.5) ** 2 + (y - 0.44) ** 2
    if 0.16 ** 2 <= d2 <= 0.24 ** 2:
        return True
    # Six dots on a line below it, radius 0.025, 0.08 apart.
    for i in range(6):
        cx = 0.5 + (i - 2.5) * 0.08
        if (x - cx) ** 2 + (y - 0.78) ** 2 <= 0.025 ** 2:
            return True
    return False


def png(size):
    """A 1-bit palette PNG of the icon at `size` pixels."""
    rows = bytearray()
    for py in range(size):
        rows.append(0)  # filter: none
        byte, bits = 0, 0
        for px in range(size):
            bit = inside((px + 0.5) / size, (py + 0.5) / size)
            byte = (byte << 1) | bit
            bits += 1
            if bits == 8:
                rows.append(byte)
                byte, bits = 0, 0
        if bits:
            rows.append(byte << (8 - bits))

    def chunk(kind, data):
        body = kind + data
        return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body))

    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 1, 3, 0, 0, 0))
            + chunk(b'PLTE', bytes(BLUE + WHITE))
            + chunk(b'IDAT', zlib.compress(bytes(rows), 9))
            + chunk(b'IEND', b''))


if __name__ == '__main__':
    here = Path(__file__).resolve().parent
    for name, size in SIZES.items():
        data = png(size)
        (here / name).write_bytes(data)
        print(f'{name}: {size} x {size}, {len(data)} bytes')
