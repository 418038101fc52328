# Probes for the isolation matrix (t_isolate_matrix.sh).  Exit 0 means
# the traffic got through, 1 that it did not.
#
#   tcp ADDR PORT [SRC]         a TCP connection is accepted (1.5 s)
#   udp ADDR PORT [SRC] [DEV]   a datagram is answered (1.5 s); DEV binds the
#                               socket to an interface (for broadcast)
#   ping ADDR                   an ICMP echo is answered (1.5 s)
# SRC is a source port, or IPv4-ADDRESS:PORT.
#   serve PROTO PORT FILE       echo server on every address (tcp or udp),
#                               one line "PROTO SRC SPORT" per arrival in FILE
#   loop ADDR PORT SECONDS      TCP connects as fast as the deadline allows;
#                               prints "ATTEMPTS SUCCESSES", exit 0
import os, socket, sys, time

# How long to wait for an answer: a probe expected to fail may use less
# (VG_PROBE_TIMEOUT); one expected to pass keeps 1.5 s.
T = float(os.environ.get("VG_PROBE_TIMEOUT", "1.5"))

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def src(addr, spec):
    if ":" in str(spec):
        a, p = spec.rsplit(":", 1)
        return (a, int(p))
    return ("::" if ":" in addr else "0.0.0.0", int(spec or 0))

def tcp(addr, port, sport=0, timeout=None):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout or T)
    try:
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(src(addr, sport))
        s.connect((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()

def udp(addr, port, sport=0, dev=None):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(T)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    try:
        s.bind(src(addr, sport))
        s.sendto(b"ping", (addr, port))
        data, _ = s.recvfrom(64)
        return data == b"ping"
    except OSError:
        return False
    finally:
        s.close()

def serve(proto, port, path):
    out = open(path, "a", buffering=1)
    if proto == "udp":
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        while True:
            data, peer = s.recvfrom(64)
            out.write("udp %s %d\n" % (peer[0].replace("::ffff:", ""), peer[1]))
            s.sendto(data, peer)
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        out.write("tcp %s %d\n" % (peer[0].replace("::ffff:", ""), peer[1]))
        c.close()

def loop(addr, port, seconds):
    end = time.time() + seconds
    n = ok = 0
    while time.time() < end:
        n += 1
        ok += tcp(addr, port, timeout=0.2)
    print(n, ok)
    return True

def ping(addr):
    # An unprivileged ICMP socket would need ping_group_range: raw, as root.
    fam = family(addr)
    proto = socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 else socket.IPPROTO_ICMP
    s = socket.socket(fam, socket.SOCK_RAW, proto)
    s.settimeout(T)
    if fam == socket.AF_INET6:
        pkt = bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1]) + b"vigil"  # the kernel sums it
    else:
        body = bytes([8, 0, 0, 0, 0x12, 0x34, 0, 1]) + b"vigil"
        c = sum((body[i] << 8) + (body[i + 1] if i + 1 < len(body) else 0)
                for i in range(0, len(body), 2))
        c = (c >> 16) + (c & 0xffff)
        c = ~(c + (c >> 16)) & 0xffff
        pkt = body[:2] + bytes([c >> 8, c & 0xff]) + body[4:]
    try:
        s.sendto(pkt, (addr, 0))
        end = time.time() + T
        while time.time() < end:
            data, peer = s.recvfrom(256)
            # An echo reply with our identifier (0x1234), not any reply.
            if fam == socket.AF_INET6 and data[0] == 129 and data[4:6] == b"\x12\x34":
                return True
            h = (data[0] & 15) * 4
            if fam == socket.AF_INET and data[h] == 0 and data[h + 4:h + 6] == b"\x12\x34":
                return True
        return False
    except OSError:
        return False
    finally:
        s.close()

a = sys.argv
if a[1] == "tcp":
    r = tcp(a[2], int(a[3]), a[4] if len(a) > 4 else 0)
elif a[1] == "udp":
    r = udp(a[2], int(a[3]), a[4] if len(a) > 4 else 0, a[5] if len(a) > 5 else None)
elif a[1] == "ping":
    r = ping(a[2])
elif a[1] == "serve":
    serve(a[2], int(a[3]), a[4])
elif a[1] == "loop":
    r = loop(a[2], int(a[3]), float(a[4]))
sys.exit(0 if r else 1)
