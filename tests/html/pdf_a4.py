#!/usr/bin/env python3
"""Checks a PDF printed by Chromium: a real PDF of some substance whose
every page MediaBox is A4 portrait (595.28 x 841.89 pt, within 3 pt), and
with MAX_PAGES, of no more than that many pages.

Usage: pdf_a4.py PDF [MAX_PAGES]
Prints "N pages, A4 W x H pt, K KiB" and exits 0, or says why not and exits 1.
"""
import re
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: pdf_a4.py PDF [MAX_PAGES]")
    max_pages = int(sys.argv[2]) if len(sys.argv) == 3 else None
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
    if max_pages is not None and len(boxes) > max_pages:
        print("%d pages, more than the %d allowed" % (len(boxes), max_pages))
        return 1
    print("%d pages, A4 %.2f x %.2f pt, %d KiB%s" % (len(boxes), w, h, len(data) // 1024,
          "" if max_pages is None else " (at most %d allowed)" % max_pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
