#!/usr/bin/env python3
"""A --console-socket server for tests: accept one connection, take the pty master sent with
SCM_RIGHTS, print everything read from it to stdout until the other side closes."""
import array, os, socket, sys

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
for level, typ, data in anc:
    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
if not fds:
    print("no fd received", file=sys.stderr)
    sys.exit(2)
master = fds[0]
sys.stderr.write("name=%s\n" % msg.decode())
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break  # EIO once every slave is closed
    if not chunk:
        break
    sys.stdout.write(chunk.decode(errors="replace"))
    sys.stdout.flush()
