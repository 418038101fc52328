# An open connection to the peer, pinged every 200 ms: "ok" or "fail"
# per ping, appended to the file named by argv[1].
import socket, sys, time
s = socket.create_connection(("10.77.2.1", 9000), timeout=1)
out = open(sys.argv[1], "a", buffering=1)
while True:
    try:
        s.sendall(b"x"); out.write("ok\n" if s.recv(1) == b"x" else "fail\n")
    except OSError:
        out.write("fail\n")
    time.sleep(0.2)
