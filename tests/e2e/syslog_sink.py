#!/usr/bin/env python3
"""A stand-in for syslogd: receives datagrams on a Unix socket (what
syslog(3) sends to /dev/log) and appends each, one line, to a file.

Usage: syslog_sink.py SOCKET FILE
"""
import os
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(out, "ab", buffering=0) as f:
        while True:
            msg = s.recv(65536)
            f.write(msg.rstrip(b"\n") + b"\n")


if __name__ == "__main__":
    main()
