#!/usr/bin/env python3
"""The other ends of the fwtrace daemon's sockets, for the end-to-end tests.

  collect PATH OUT          listen on a unix stream socket (a collector); append what arrives to OUT
  notify PATH OUT           listen on a unix datagram socket as systemd's NOTIFY_SOCKET; one line per message
  request SOCKET TEXT       send TEXT (+ newline) to the control socket, print every answer line until it closes
      --size N              instead of TEXT, send N bytes of a JSON string without a newline (oversized request)
      --no-read SECONDS     send, then read nothing for SECONDS; print "closed-by-daemon" if the daemon
                            closed the connection meanwhile (cut off), else "still-open"
  hold SOCKET UID:GID:N...  as root: open N idle connections as each UID:GID (effective ids, which
                            SO_PEERCRED records), print one JSON line {"open": n, "refused": [messages]},
                            then hold the open ones until stdin closes
"""
import json, os, socket, sys, time, select


def collect(path, out):
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(8)
    clients = []
    with open(out, "ab", buffering=0) as f:
        print("listening", flush=True)
        while True:
            readable, _, _ = select.select([server] + clients, [], [], 1.0)
            for s in readable:
                if s is server:
                    c, _ = server.accept()
                    clients.append(c)
                    continue
                data = s.recv(65536)
                if not data:
                    clients.remove(s)
                    s.close()
                    continue
                f.write(data)


def notify(path, out):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", buffering=1) as f:
        print("listening", flush=True)
        while True:
            data = s.recv(65536)
            f.write(data.decode("utf-8", "replace").replace("\n", " ") + "\n")


def request(path, text, size=None, no_read=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if size is not None:
        payload = b'{"op":"follow","limit":"' + b"x" * size
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        s.sendall(text.encode() + b"\n")
    if no_read is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deadline = time.time() + no_read
        while time.time() < deadline:
            time.sleep(0.2)
        # Now look: a cut-off connection reads to EOF (or reset) after what was already queued.
        s.setblocking(False)
        closed = False
        try:
            while True:
                data = s.recv(1 << 20)
                if not data:
                    closed = True
                    break
        except BlockingIOError:
            closed = False
        except ConnectionResetError:
            closed = True
        print("closed-by-daemon" if closed else "still-open", flush=True)
        return
    s.settimeout(30)
    buffer = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            buffer += data
    except (ConnectionResetError, socket.timeout):
        pass
    sys.stdout.write(buffer.decode("utf-8", "replace"))


def hold(path, specs):
    held = []
    for spec in specs:
        uid, gid, n = (int(x) for x in spec.split(":"))
        os.setegid(gid)
        os.seteuid(uid)
        try:
            for _ in range(n):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                held.append(s)
        finally:
            os.seteuid(0)
            os.setegid(0)
    # A refused connection gets its error line at once; an accepted one hears nothing yet.
    time.sleep(0.5)
    refused, kept = [], []
    for s in held:
        s.setblocking(False)
        try:
            data = s.recv(4096)
            refused.append(json.loads(data.split(b"\n")[0]).get("message") if data else "closed")
            s.close()
        except BlockingIOError:
            kept.append(s)
    print(json.dumps({"open": len(kept), "refused": refused}), flush=True)
    sys.stdin.read()


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[0]
    if mode == "collect":
        collect(argv[1], argv[2])
    elif mode == "notify":
        notify(argv[1], argv[2])
    elif mode == "hold":
        hold(argv[1], argv[2:])
    elif mode == "request":
        size = no_read = None
        rest = argv[2:]
        text = ""
        while rest:
            if rest[0] == "--size":
                size = int(rest[1]); rest = rest[2:]
            elif rest[0] == "--no-read":
                no_read = float(rest[1]); rest = rest[2:]
            else:
                text = rest[0]; rest = rest[1:]
        request(argv[1], text, size, no_read)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
