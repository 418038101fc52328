#!/usr/bin/env python3
"""A hostile or noisy peer of the collector, speaking its wire protocol
(frames of vigil.v1.Envelope, encoded by hand: no protobuf module needed)
over real TLS:

  vgpeer.py enroll HOST:PORT CA SRC COUNT TOKEN
      COUNT enrollment requests with TOKEN ("random-vge1", "random-vge2"
      or "random-vge2:SELECTOR": a new guess each time), from source
      address SRC, or from "many": 127.3.X.Y, one address per request.
      Prints one line per request: "ok" or the collector's reason.
  vgpeer.py chunks HOST:PORT CA CERT KEY AGENT_ID COUNT
      As the agent (its certificate): hello, then COUNT upload chunks for
      commands that do not exist; waits for COUNT acknowledgements, says
      goodbye.  Prints "acked N refused M".
  vgpeer.py hold HOST:PORT CA PKI NAME1,NAME2,... SECONDS
      One connection per agent NAME (certificate PKI/NAME.crt), each
      saying hello; prints "ok NAME" or "refused NAME: REASON" as each is
      answered, then holds the accepted ones open for SECONDS (or until
      SIGUSR1) and prints "closed" (the count of those the collector
      closed meanwhile).
  vgpeer.py operator HOST:PORT CA CERT KEY SECONDS
      As an operator (its certificate): a hosts query each second on one
      connection, printing "up" at the first answer, until the collector
      closes it ("closed: REASON") or SECONDS pass ("timeout"); then one
      more connection resuming that TLS session, printing "resumed
      True|False", and "answered" or "refused: REASON".

Environment: VGPEER_HOSTNAME, the hostname a hello gives; VGPEER_SKEW_MS,
milliseconds added to the send time of every envelope (a wrong clock).
"""
import os
import select
import signal
import socket
import ssl
import struct
import sys
import time
import uuid


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def envelope(num, body):
    sent = int(time.time() * 1000) + int(os.environ.get("VGPEER_SKEW_MS", "0"))
    return field_varint(1, sent) + field_bytes(num, body)


def frame(payload):
    return struct.pack(">IBBHI", len(payload), 1, 0, 0, len(payload)) + payload


def parse(b):
    """{field number: [values]} of one message (varints as ints, the rest as bytes)."""
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def unlz4(b, size):
    """One lz4 block (a long answer comes compressed), size bytes out."""
    out, i = bytearray(), 0
    while i < len(b):
        tok = b[i]
        i += 1
        n = tok >> 4
        if n == 15:
            while True:
                n += b[i]
                i += 1
                if b[i - 1] != 255:
                    break
        out += b[i:i + n]
        i += n
        if i >= len(b):
            break
        off = b[i] | b[i + 1] << 8
        i += 2
        m = tok & 15
        if m == 15:
            while True:
                m += b[i]
                i += 1
                if b[i - 1] != 255:
                    break
        for _ in range(m + 4):
            out.append(out[-off])
    if len(out) != size:
        raise ValueError("lz4 block of %d bytes, expected %d" % (len(out), size))
    return bytes(out)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def take(self):
        """The next envelope already read, or None."""
        if len(self.buf) >= 12:
            n = struct.unpack(">I", self.buf[:4])[0]
            flags, raw = self.buf[5], struct.unpack(">I", self.buf[8:12])[0]
            if len(self.buf) >= 12 + n:
                p, self.buf = self.buf[12:12 + n], self.buf[12 + n:]
                return parse(unlz4(p, raw) if flags & 1 else p)
        return None

    def envelope(self):
        """The next envelope as {field: [values]}, or None at the end."""
        while True:
            env = self.take()
            if env is not None:
                return env
            try:
                d = self.s.recv(65536)
            except (ssl.SSLError, OSError):
                d = b""
            if not d:
                return None
            self.buf += d


def connect(addr, ca, src, cert=None, key=None):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection((host, int(port)), timeout=30,
                                   source_address=(src, 0) if src else None)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def guess(kind):
    h = os.urandom(28).hex()
    if kind == "random-vge1":
        return "vge1-" + h[:40]
    if kind == "random-vge2":
        return "vge2-%s-%s" % (h[:16], h[16:56])
    if kind.startswith("random-vge2:"):
        return "vge2-%s-%s" % (kind.split(":", 1)[1], h[:40])
    return kind


def enroll(addr, ca, src, count, token):
    for i in range(count):
        s = src if src != "many" else "127.3.%d.%d" % (i // 250, i % 250 + 1)
        try:
            c = connect(addr, ca, s)
        except OSError as e:
            print("connect failed: %s" % e, flush=True)
            continue
        req = field_bytes(1, guess(token)) + field_bytes(3, "vgpeer")
        c.sendall(frame(envelope(90, req)))
        env = Reader(c).envelope()
        c.close()
        if not env or 91 not in env:
            print("no answer", flush=True)
            continue
        r = parse(env[91][0])
        if r.get(1, [0])[0]:
            print("ok", flush=True)
        else:
            print(r.get(2, [b"?"])[0].decode(), flush=True)


def hello(c, rd, agent_id):
    """Says hello as agent_id; returns None when acknowledged, else why not."""
    h = field_varint(1, 1) + field_bytes(2, agent_id) + field_bytes(3, os.urandom(16)) + \
        field_bytes(4, "vgpeer")
    if os.environ.get("VGPEER_HOSTNAME"):
        h += field_bytes(9, os.environ["VGPEER_HOSTNAME"])
    c.sendall(frame(envelope(10, h)))
    while True:
        env = rd.envelope()
        if env is None:
            return "closed before the hello was acknowledged"
        if 11 in env:
            return None
        if 13 in env:
            e = parse(env[13][0])
            return e.get(2, [b"?"])[0].decode(errors="replace")



def chunks(addr, ca, cert, key, agent_id, count):
    c = connect(addr, ca, None, cert, key)
    rd = Reader(c)
    why = hello(c, rd, agent_id)
    if why:
        sys.exit("refused: %s" % why)

    out = bytearray()
    for i in range(count):
        u = str(uuid.uuid4())
        ch = field_bytes(1, u) + field_bytes(2, u) + field_bytes(3, "x.tar.lz4") + \
            field_varint(4, 0) + field_bytes(5, b"flood")
        out += frame(envelope(80, ch))

    # Chunks go out while acknowledgements are read, from one thread: an
    # SSL socket must not be read and written by two threads at once
    # (OpenSSL's object is not thread-safe; that broke this test once in
    # six runs under ASan).
    c.setblocking(False)
    acked = refused = 0
    idle = time.time() + 30
    while acked < count:
        if time.time() > idle:
            sys.exit("no progress for 30 s after %d acknowledgements" % acked)
        want_w = len(out) > 0
        select.select([c], [c] if want_w else [], [], 1.0)
        if out:
            try:
                n = c.send(out[:16384])
                del out[:n]
                idle = time.time() + 30
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        while True:
            env = rd.take()
            if env is None:
                break
            if 81 in env:
                acked += 1
                if parse(env[81][0]).get(4):
                    refused += 1
                idle = time.time() + 30
        try:
            d = c.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            continue
        if not d:
            sys.exit("closed by the collector after %d acknowledgements" % acked)
        rd.buf += d
    c.setblocking(True)
    c.sendall(frame(envelope(14, field_bytes(1, "done"))))
    c.close()
    print("acked %d refused %d" % (acked, refused), flush=True)


def hold(addr, ca, pki, names, seconds):
    # SIGUSR1 ends the wait early (the test is done with the connections).
    woken = []
    signal.signal(signal.SIGUSR1, lambda *a: woken.append(1))
    held = []
    for n in names:
        try:
            c = connect(addr, ca, None, "%s/%s.crt" % (pki, n), "%s/%s.key" % (pki, n))
            why = hello(c, Reader(c), n)
        except OSError as e:
            why = "connection failed: %s" % e
            c = None
        if why is None:
            held.append(c)
            print("ok %s" % n, flush=True)
        else:
            print("refused %s: %s" % (n, why), flush=True)
            if c:
                c.close()
    end = time.time() + seconds
    while not woken and time.time() < end:
        time.sleep(0.2)
    gone = 0
    for c in held:
        c.setblocking(False)
        try:
            if c.recv(65536) == b"":
                gone += 1
        except ssl.SSLWantReadError:
            pass
        except OSError:
            gone += 1
        c.close()
    print("closed %d" % gone, flush=True)


def op_query(c, rd, rid):
    """One hosts query; None when answered, else why not."""
    req = field_varint(1, rid) + field_bytes(10, b"")
    try:
        c.sendall(frame(envelope(100, req)))
    except OSError as e:
        return "send failed: %s" % e
    while True:
        env = rd.envelope()
        if env is None:
            return "closed without a reason"
        if 101 in env:
            return None
        if 13 in env:
            e = parse(env[13][0])
            return e.get(2, [b"?"])[0].decode(errors="replace")


def operator(addr, ca, cert, key, seconds):
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    c = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=30),
                        server_hostname="localhost")
    rd, end, why, rid = Reader(c), time.time() + seconds, "timeout", 1
    while time.time() < end:
        r = op_query(c, rd, rid)
        if r is not None:
            why = "closed: " + r
            break
        if rid == 1:
            print("up", flush=True)
        rid += 1
        time.sleep(1)
    print(why, flush=True)
    sess = c.session
    c.close()
    c = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=30),
                        server_hostname="localhost", session=sess)
    print("resumed %s" % c.session_reused, flush=True)
    r = op_query(c, Reader(c), 1)
    print("answered" if r is None else "refused: " + r, flush=True)
    c.close()


def main():
    a = sys.argv[1:]
    if a and a[0] == "enroll" and len(a) == 6:
        enroll(a[1], a[2], a[3], int(a[4]), a[5])
    elif a and a[0] == "chunks" and len(a) == 7:
        chunks(a[1], a[2], a[3], a[4], a[5], int(a[6]))
    elif a and a[0] == "operator" and len(a) == 6:
        operator(a[1], a[2], a[3], a[4], float(a[5]))
    elif a and a[0] == "hold" and len(a) == 6:
        hold(a[1], a[2], a[3], a[4].split(","), float(a[5]))
    else:
        sys.exit(__doc__)


main()
