# The peer of the isolation tests: a TCP echo server on ports 9000, 9001
# and 53 (standing in for a DNS server), IPv4 and IPv6.
import socket, threading, sys
def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=lambda c=c: [c.sendall(d) for d in iter(lambda: c.recv(4096), b"")], daemon=True).start()
threading.Thread(target=serve, args=(9001,), daemon=True).start()
threading.Thread(target=serve, args=(53,), daemon=True).start()
serve(9000)
