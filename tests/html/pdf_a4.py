#!/usr/bin/env python3
"""Checks a PDF printed by Chromium: a real PDF of some substance whose
every page MediaBox is A4 portrait (595.28 x 841.89 pt, within 3 pt).

Usage: pdf_a4.py PDF
Prints "N pages, A4 W x H pt, K KiB" and exits 0, or says why not and exits 1.
"""
import re
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pdf_a4.py PDF")
    try:
        with open(sys.argv[1], "rb") as f:
            data = f.read()
    except OSError as e:
        print("no PDF written (%s)" % e.strerror)
        return 1
    if not data.startswith(b"%PDF-"):
        print("not a PDF (%d bytes)" % len(data))
        return 1
    if len(data) < 10000:
        print("the PDF is only %d bytes" % len(data))
        return 1
    # Chromium (Skia) writes page dictionaries uncompressed.
    boxes = re.findall(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]",
                       data)
    if not boxes:
        print("no page MediaBox found")
        return 1
    for n, box in enumerate(boxes, 1):
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        if abs(w - 595.28) > 3 or abs(h - 841.89) > 3:
            print("page %d is %.2f x %.2f pt, not A4 portrait (595 x 842)" % (n, w, h))
            return 1
    print("%d pages, A4 %.2f x %.2f pt, %d KiB" % (len(boxes), w, h, len(data) // 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
