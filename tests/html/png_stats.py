#!/usr/bin/env python3
"""Is a screenshot blank?  Decodes an 8-bit, non-interlaced PNG with the
standard library only (zlib) and requires at least MIN_PCT per cent of
pixels that are not white and at least MIN_COLOURS distinct colours.

Usage: png_stats.py PNG MIN_PCT MIN_COLOURS
Prints "N% non-white, M colours, WxH" and exits 0, or says why not and exits 1.
"""
import struct
import sys
import zlib


def decode(path):
    """Returns (width, height, channels, rows) with rows as bytearrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if not hdr:
        raise ValueError("PNG has no header")
    width, height, depth, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)"
                         % (depth, ctype, interlace))
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) < height * (stride + 1):
        raise ValueError("PNG data is truncated")
    rows, prev, pos, bpp = [], bytearray(stride), 0, channels
    for _ in range(height):
        ftype, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += stride + 1
        if ftype == 1:  # Sub
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif ftype == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ftype == 3:  # Average
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif ftype == 4:  # Paeth
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif ftype != 0:
            raise ValueError("bad PNG filter type %d" % ftype)
        rows.append(line)
        prev = line
    return width, height, channels, rows


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: png_stats.py PNG MIN_PCT MIN_COLOURS")
    path, min_pct, min_colours = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    try:
        width, height, ch, rows = decode(path)
    except (OSError, ValueError, zlib.error) as e:
        print("%s: %s" % (path, e))
        return 1
    colours, nonwhite, total = set(), 0, 0
    for line in rows:
        chans = [line[i::ch] for i in range(min(ch, 3))]
        for px in zip(*chans):
            total += 1
            if min(px) < 245:
                nonwhite += 1
            colours.add(px)
    pct = 100.0 * nonwhite / total if total else 0.0
    summary = "%.1f%% non-white, %d colours, %dx%d" % (pct, len(colours), width, height)
    if pct < min_pct or len(colours) < min_colours:
        print("screenshot looks blank: %s (need %g%% and %d colours)"
              % (summary, min_pct, min_colours))
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
