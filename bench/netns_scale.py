#!/usr/bin/python3
"""What tracing many namespaces costs (issue 15): `fwtrace follow --all-netns` over N namespaces,
idle and under traffic, side by side with its peer, one `nft monitor trace` per namespace (the
kernel's own tool sees one namespace; tracing N means N of them, each with a trace rule).

Runs inside Tests/tools/netns-sandbox.sh (its own initial namespace, /proc and /run/netns: the
host's namespaces are neither seen nor touched):
    Tests/tools/netns-sandbox.sh bench/netns_scale.py [N] [SECONDS] [RATE]
N namespaces fwt-ns-0..N-1 (one pair of them joined by a veth for the traffic), SECONDS of idle and
SECONDS of UDP at RATE packets a second (bench/udp_sender.c) from fwt-ns-0 to fwt-ns-1. Prints the
figures as JSON: start time (until every namespace's session started), resident memory (fwtrace's
VmRSS; the peers' sum), threads, CPU seconds idle and under traffic, records and segments.
"""
import json, os, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FWTRACE = os.environ.get("FWTRACE", os.path.join(ROOT, ".build", "release", "fwtrace"))
TICKS = os.sysconf("SC_CLK_TCK")

def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)

def cpu(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICKS

def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    rate = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    if os.path.exists("/run/netns") and os.listdir("/run/netns"):
        sys.exit("netns_scale: run it in Tests/tools/netns-sandbox.sh (its /run/netns is empty)")
    names = [f"fwt-ns-{i}" for i in range(n)]
    for name in names:
        sh("ip", "netns", "add", name); sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "link", "add", "fwtns0", "netns", names[0], "type", "veth", "peer", "name", "fwtns1", "netns", names[1])
    for name, dev, addr in ((names[0], "fwtns0", "10.74.0.1/24"), (names[1], "fwtns1", "10.74.0.2/24")):
        sh("ip", "-n", name, "addr", "add", addr, "dev", dev); sh("ip", "-n", name, "link", "set", dev, "up")
    tmp = tempfile.mkdtemp(prefix="fwt-ns-scale-")
    sender = os.path.join(tmp, "udp_sender")
    sh("gcc", "-O2", "-o", sender, os.path.join(ROOT, "bench", "udp_sender.c"))
    count = int(rate * seconds)
    result = {"namespaces": n + 1, "seconds": seconds, "rate": rate, "packets": count}

    # fwtrace: one process, a session per namespace (the sandbox's initial one too). No limit, as
    # the peer's rules have none: udp_sender sends in bursts of 100, and a limit's burst of 5 in
    # each namespace would trace a different few of each burst in each.
    out_path = os.path.join(tmp, "fwtrace.jsonl")
    out = open(out_path, "w")
    t0 = time.monotonic()
    p = subprocess.Popen([FWTRACE, "follow", "--standalone", "--all-netns", "--max-netns", str(n + 8), "-p", "udp",
                          "--dport", "9000:9099", "--no-limit", "--format", "json"], stdout=out, stderr=subprocess.DEVNULL)
    while time.monotonic() - t0 < 120:
        started = sum(1 for line in open(out_path) if '"event":"started"' in line)
        if started >= n + 1: break
        time.sleep(0.1)
    result["fwtrace_start_seconds"] = round(time.monotonic() - t0, 2)
    time.sleep(1)
    c0 = cpu([p.pid]); time.sleep(seconds); c1 = cpu([p.pid])
    result["fwtrace_idle_cpu_seconds"] = round(c1 - c0, 2)
    result["fwtrace_rss_kib"] = status(p.pid, "VmRSS")
    result["fwtrace_threads"] = status(p.pid, "Threads")
    c0 = cpu([p.pid])
    sh("ip", "netns", "exec", names[0], sender, "10.74.0.2", str(count), str(rate))
    time.sleep(1)
    result["fwtrace_traffic_cpu_seconds"] = round(cpu([p.pid]) - c0, 2)
    result["fwtrace_rss_kib_after_traffic"] = status(p.pid, "VmRSS")
    p.send_signal(signal.SIGINT); p.wait(timeout=30); out.close()
    paths = [json.loads(line) for line in open(out_path) if '"type":"path"' in line]
    result["fwtrace_records"] = len(paths)
    result["fwtrace_records_joined"] = sum(1 for r in paths if len(r.get("segments", [])) == 2)

    # The peer: a trace rule and an `nft monitor trace` in each namespace.
    rule = ("table inet fwtpeer {\n"
            " chain pre { type filter hook prerouting priority -350; udp dport 9000-9099 meta nftrace set 1; }\n"
            " chain out { type filter hook output priority -350; udp dport 9000-9099 meta nftrace set 1; }\n}\n")
    peers = []
    t0 = time.monotonic()
    for name in [None] + names:
        prefix = [] if name is None else ["ip", "netns", "exec", name]
        subprocess.run(prefix + ["nft", "-f", "-"], input=rule, text=True, check=True)
        peers.append(subprocess.Popen(prefix + ["nft", "monitor", "trace"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1)
    result["peer_start_seconds"] = round(time.monotonic() - t0, 2)
    pids = [q.pid for q in peers]
    # `ip netns exec` execs nft: the pid is nft's own.
    c0 = cpu(pids); time.sleep(seconds); c1 = cpu(pids)
    result["peer_idle_cpu_seconds"] = round(c1 - c0, 2)
    result["peer_rss_kib_sum"] = sum(status(pid, "VmRSS") for pid in pids)
    c0 = cpu(pids)
    sh("ip", "netns", "exec", names[0], sender, "10.74.0.2", str(count), str(rate))
    time.sleep(1)
    result["peer_traffic_cpu_seconds"] = round(cpu(pids) - c0, 2)
    for q in peers: q.send_signal(signal.SIGINT)
    for q in peers: q.wait(timeout=30)
    print(json.dumps(result, indent=1))

if __name__ == "__main__":
    main()
