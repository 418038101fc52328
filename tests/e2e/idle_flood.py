#!/usr/bin/env python3
"""Holds TCP connections to HOST:PORT open without ever starting TLS, as
an attacker keeping a collector's handshake slots busy would: COUNT from
one source address, or spread over COUNT source addresses of 127.1.0.0/16
(loopback: any 127/8 address is local).  A connection the server closes is
opened again at once.  Writes "opened N closed M" to STATUS every second.

    idle_flood.py HOST PORT COUNT one|many STATUS
"""
import errno
import os
import resource
import selectors
import socket
import sys
import time


def main():
    host, port, count, mode, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4], sys.argv[5]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    opened = closed = 0

    def src(i):
        return ("127.0.0.1", 0) if mode == "one" else \
            ("127.1.%d.%d" % (i // 250, i % 250 + 1), 0)

    def open_one(i):
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind(src(i))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            return
        sel.register(s, selectors.EVENT_READ, i)
        opened += 1

    for i in range(count):
        open_one(i)
    last = 0.0
    again = []  # (when, index)
    while True:
        now = time.time()
        while again and again[0][0] <= now:
            open_one(again.pop(0)[1])
        for key, _ in sel.select(timeout=0.1):
            s, i = key.fileobj, key.data
            try:
                data = s.recv(4096)
            except OSError as e:
                data = b"" if e.errno != errno.EAGAIN else None
            if data == b"":
                sel.unregister(s)
                s.close()
                closed += 1
                again.append((time.time() + 1.0, i))
        now = time.time()
        if now - last >= 1:
            last = now
            with open(status + ".tmp", "w") as f:
                f.write("opened %d closed %d\n" % (opened, closed))

            os.replace(status + ".tmp", status)


main()
