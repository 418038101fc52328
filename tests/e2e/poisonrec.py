#!/usr/bin/env python3
"""Replaces one record of a stopped agent's spool segment (agent/net/spool.h)
with a poison batch of the same sequence number, a valid protobuf
vigil.v1.Batch with one event, CRC-32C recomputed: the real agent then
sends it at its next start as it sends any batch.  Prints the seq.

    poisonrec.py SEGMENT INDEX KIND     (INDEX: 0-based among the records)

KIND:
    argv      an exec whose 20000 argv entries join to 1.2 MB (about 5 KB
              once lz4 has it): the measured attack of issue 19
    hostname  an OS state whose hostname is 300 bytes
    package   an inventory whose one package name is 5000 bytes
"""
import struct
import sys
import time

from spoolrec import HDR, MAGIC, crc32c, records  # the segment format, once


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field, n):
    return varint(field << 3) + varint(n)


def ld(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def event(kind):
    now = int(time.time() * 1000)
    if kind == "argv":
        arg = b"A" * 60
        x = num(1, 4242) + ld(9, b"poison") + ld(10, b"/usr/bin/poison")
        x += b"".join(ld(11, arg) for _ in range(20000))
        body = ld(40, x)
    elif kind == "hostname":
        body = ld(10, ld(1, b"h" * 300))
    elif kind == "package":
        pkg = ld(1, b"p" * 5000) + ld(2, b"1.0") + ld(3, b"amd64")
        body = ld(20, num(1, 1) + num(2, 1) + num(3, 1) + num(4, 1) + ld(5, pkg))
    else:
        sys.exit("unknown kind " + kind)
    return num(1, now) + body


def main():
    path, want, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    buf = open(path, "rb").read()
    recs = records(buf)
    if want >= len(recs):
        sys.exit("only %d records" % len(recs))
    off, length = recs[want]
    (seq,) = struct.unpack_from("<Q", buf, off + 8)
    (cls,) = struct.unpack_from("<H", buf, off + 16)
    payload = num(1, seq) + num(2, int(time.time() * 1000)) + ld(3, event(kind))
    hdr = bytearray(HDR)
    hdr[0:4] = MAGIC
    struct.pack_into("<IQHHI", hdr, 4, len(payload), seq, cls, 0, 1)
    crc = crc32c(payload, crc32c(bytes(hdr[4:24])))
    struct.pack_into("<I", hdr, 24, crc)
    with open(path, "wb") as f:
        f.write(buf[:off] + bytes(hdr) + payload + buf[off + HDR + length:])
    print(seq)


main()
