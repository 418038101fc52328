# reach ADDR PORT: exit 0 if an echo comes back within 1.5 s.
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
    s.sendall(b"ping\n"); sys.exit(0 if s.recv(16) == b"ping\n" else 1)
except OSError:
    sys.exit(1)
