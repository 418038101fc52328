#!/usr/bin/env python3
"""Rewrites one record of a spool segment (agent/net/spool.h): its payload
replaced by bytes that are no protobuf batch, its CRC-32C recomputed, so
that only decoding can tell.  Prints the record's seq and event count.

    spoolrec.py SEGMENT INDEX     (INDEX: 0-based among the records,
                                   tombstones not counted; -1: the last)
    spoolrec.py SEGMENT count     prints how many records it holds
"""
import struct
import sys

HDR = 28
MAGIC = b"VGS1"
TOMB = b"VGSD"  # a dropped record


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = _table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def records(buf):
    """(offset, payload length) of each live record, tombstones skipped."""
    recs, off = [], 0
    while off + HDR <= len(buf) and buf[off:off + 4] in (MAGIC, TOMB):
        (length,) = struct.unpack_from("<I", buf, off + 4)
        if buf[off:off + 4] == MAGIC:
            recs.append((off, length))
        off += HDR + length
    return recs


def main():
    path = sys.argv[1]
    buf = bytearray(open(path, "rb").read())
    recs = records(buf)
    if sys.argv[2] == "count":
        print(len(recs))
        return
    want = int(sys.argv[2])
    if not recs or want >= len(recs):
        sys.exit("only %d records" % len(recs))
    off, length = recs[want]
    (seq,) = struct.unpack_from("<Q", buf, off + 8)
    (events,) = struct.unpack_from("<I", buf, off + 20)
    buf[off + HDR:off + HDR + length] = b"\xff" * length
    crc = crc32c(bytes(buf[off + 4:off + 24]))
    crc = crc32c(bytes(buf[off + HDR:off + HDR + length]), crc)
    struct.pack_into("<I", buf, off + 24, crc)
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(buf[off:off + HDR + length])
    print(seq, events)


if __name__ == "__main__":
    main()
