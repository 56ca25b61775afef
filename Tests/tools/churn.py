#!/usr/bin/env python3
"""Session churn against the fwtrace daemon's control socket (DaemonChurnTests).

  churn.py SOCKET NETNS SESSIONS WORKERS [--timeout 20ms] [--traffic PORT,PORT --rate N]

Runs SESSIONS short `follow` sessions (nft backend, each its own UDP port filter, ended by the
daemon after --timeout), WORKERS at a time, each on a connection of its own. With --traffic, a
thread sends N UDP datagrams a second, in turn to 127.0.0.1 at each PORT, for the daemon's watches
to trace meanwhile: run it inside NETNS (ip netns exec) for that. Every session must end with the
daemon's `end` line; the first failures stop the run. Prints one JSON line:
{"sessions": started, "ended": n, "seconds": s, "failures": [...]}; exit 1 on any failure.
"""
import json, socket, sys, threading, time


def session(path, netns, index, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    request = {"op": "follow", "netns": netns, "backend": "nft", "timeout": timeout,
               "filter": {"proto": "udp", "dport": str(20000 + index % 20000)}}
    s.sendall(json.dumps(request).encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    lines = [json.loads(line) for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines or lines[-1].get("type") != "end":
        raise RuntimeError(f"session {index}: no end line; got {data[-400:]!r}")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, netns, total, workers = argv[0], argv[1], int(argv[2]), int(argv[3])
    timeout, ports, rate = "20ms", [], 0
    rest = argv[4:]
    while rest:
        if rest[0] == "--timeout":
            timeout = rest[1]
        elif rest[0] == "--traffic":
            ports = [int(p) for p in rest[1].split(",")]
        elif rest[0] == "--rate":
            rate = float(rest[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
        rest = rest[2:]
    lock = threading.Lock()
    state = {"next": 0, "ended": 0, "failures": []}
    stop = threading.Event()

    def worker():
        while True:
            with lock:
                if state["next"] >= total or state["failures"]:
                    return
                index = state["next"]
                state["next"] += 1
            try:
                session(path, netns, index, timeout)
                with lock:
                    state["ended"] += 1
            except Exception as error:  # noqa: BLE001 (every failure is reported)
                with lock:
                    state["failures"].append(str(error))

    def traffic():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n = 0
        while not stop.wait(1.0 / rate):
            try:
                s.sendto(b"churn", ("127.0.0.1", ports[n % len(ports)]))
            except OSError:
                pass
            n += 1

    started = time.monotonic()
    sender = threading.Thread(target=traffic, daemon=True) if ports and rate > 0 else None
    if sender:
        sender.start()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    print(json.dumps({"sessions": state["next"], "ended": state["ended"],
                      "seconds": round(time.monotonic() - started, 1), "failures": state["failures"][:5]}), flush=True)
    return 1 if state["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
