#!/usr/bin/python3
"""make bench: fwtrace's benchmarks, bounded in time, on this machine.

1. Offline pipeline: a capture of real trace messages (fwtrace follow --capture, in a lab with a
   realistic firewall) replayed through decode -> assemble -> hints -> JSON by fwtrace-bench, to
   1 million events, on one core.
2. Live, side by side: the same UDP bursts (100k packets) at several rates through the same
   firewall, received by `fwtrace follow --no-limit --format json` and by `nft monitor trace`
   (both to /dev/null): events expected (kernel rule counter x events per packet), received,
   lost, losses reported, CPU seconds per 1,000 events.

Everything runs in namespaces fwt-bench-* that this script makes and deletes; traffic goes only
between them. Prints a table and writes bench/results.json and docs/benchmarks.md.
"""
import json, os, re, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
CLI, SRV = "fwt-bench-cli", "fwt-bench-srv"
TICKS = os.sysconf("SC_CLK_TCK")

def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)

def srv(*args, **kw): return sh("ip", "netns", "exec", SRV, *args, **kw)

def lab_down():
    for ns in (CLI, SRV):
        sh("ip", "netns", "delete", ns, check=False)

def lab_up():
    lab_down()
    sh("ip", "netns", "add", CLI); sh("ip", "netns", "add", SRV)
    sh("ip", "link", "add", "fwtb0", "netns", CLI, "type", "veth", "peer", "name", "fwtb1", "netns", SRV)
    for ns, dev, a4, a6 in ((CLI, "fwtb0", "10.99.0.1", "fd99::1"), (SRV, "fwtb1", "10.99.0.2", "fd99::2")):
        sh("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
        sh("ip", "-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up"); sh("ip", "-n", ns, "link", "set", "lo", "up")
    # A realistic small firewall: about 10 rules, a user chain, a DNAT.
    rules = [
        ["-N", "checks"], ["-A", "checks", "-s", "192.0.2.0/24", "-j", "DROP"], ["-A", "checks", "-p", "udp", "--dport", "9999", "-j", "DROP"],
        ["-A", "INPUT", "-m", "state", "--state", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
        ["-A", "INPUT", "-j", "checks"],
        ["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
        ["-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"],
        ["-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
        ["-A", "INPUT", "-p", "udp", "--dport", "9000:9100", "-j", "DROP"],
        ["-A", "INPUT", "-j", "REJECT"],
    ]
    for r in rules: srv("iptables-nft", *r)
    srv("iptables-nft", "-t", "nat", "-A", "PREROUTING", "-p", "udp", "--dport", "9050", "-j", "DNAT", "--to-destination", "10.99.0.2:9051")

SENDER = r'''
import socket, sys, time
count, rate = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 32
start = time.monotonic(); batch = 100
for i in range(0, count, batch):
    for j in range(min(batch, count - i)):
        s.sendto(payload, ("10.99.0.2", 9000 + (i + j) % 100))
    if rate > 0:
        ahead = (i + batch) / rate - (time.monotonic() - start)
        if ahead > 0: time.sleep(ahead)
print(count / (time.monotonic() - start))
'''

def send(count, rate):
    out = sh("ip", "netns", "exec", CLI, "/usr/bin/python3", "-c", SENDER, str(count), str(rate))
    return float(out.stdout.strip())

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS

def drop_counter():
    out = srv("iptables-nft", "-L", "INPUT", "-v", "-x", "-n").stdout
    for line in out.splitlines():
        if "udp dpts:9000:9100" in line:
            return int(line.split()[0])
    return 0

def zero_counters(): srv("iptables-nft", "-Z")

def wait_table(present=True):
    for _ in range(100):
        if ("fwtrace_" in srv("nft", "list", "tables").stdout) == present: return
        time.sleep(0.05)

def capture(tmp):
    cap = os.path.join(tmp, "capture.hex")
    p = subprocess.Popen(["ip", "netns", "exec", SRV, os.path.join(BIN, "fwtrace"), "follow", "--no-limit", "-p", "udp",
                          "--dport", "9000:9100", "--capture", cap, "--format", "json", "--timeout", "20s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_table()
    send(30000, 20000)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT); p.wait()
    listing = os.path.join(tmp, "ruleset.nft"); save = os.path.join(tmp, "iptables-save.txt")
    open(listing, "w").write(srv("nft", "-a", "-y", "list", "ruleset").stdout)
    open(save, "w").write(srv("iptables-nft-save").stdout)
    return cap, listing, save

def events_per_packet(tmp):
    """Calibration: trace events one packet of the burst produces (our own chain excluded)."""
    out = os.path.join(tmp, "calib.jsonl")
    with open(out, "w") as f:
        p = subprocess.Popen(["ip", "netns", "exec", SRV, os.path.join(BIN, "fwtrace"), "follow", "--no-limit", "-p", "udp",
                              "--dport", "9000:9100", "--format", "json", "--timeout", "5s"], stdout=f, stderr=subprocess.DEVNULL)
        wait_table(); send(1000, 5000); time.sleep(0.3)
        p.send_signal(signal.SIGINT); p.wait()
    ended = [json.loads(l) for l in open(out) if '"ended"' in l][-1]
    return ended["events"] / max(1, ended["paths"])

def live(receiver, count, rate, tmp):
    zero_counters()
    out = os.path.join(tmp, f"{receiver}-{rate}.out")
    if receiver == "fwtrace":
        cmd = [os.path.join(BIN, "fwtrace"), "follow", "--no-limit", "-p", "udp", "--dport", "9000:9100", "--format", "json"]
        f = open(out, "w")
    else:
        # nft monitor trace needs someone to set the trace bit: a table like fwtrace's.
        srv("nft", "-f", "-", input="table inet fwtbench {\n chain pre {\n  type filter hook prerouting priority -350;\n  udp dport 9000-9100 meta nftrace set 1\n }\n}\n")
        cmd = ["nft", "monitor", "trace"]
        f = open(out, "w")
    p = subprocess.Popen(["ip", "netns", "exec", SRV] + cmd, stdout=f, stderr=subprocess.DEVNULL)
    if receiver == "fwtrace": wait_table()
    else: time.sleep(0.5)
    achieved = send(count, rate)
    time.sleep(1.0)   # let the receiver drain
    cpu = cpu_seconds(p.pid) if os.path.exists(f"/proc/{p.pid}") else 0
    p.send_signal(signal.SIGINT); p.wait(); f.close()
    if receiver != "fwtrace": srv("nft", "delete", "table", "inet", "fwtbench")
    traced = drop_counter()
    row = {"receiver": receiver, "rate_target": rate, "rate_achieved": int(achieved), "packets_traced": traced}
    if receiver == "fwtrace":
        records = [json.loads(l) for l in open(out)]
        ended = [r for r in records if r.get("event") == "ended"][-1]
        row.update(events_received=ended["events"], paths=ended["paths"],
                   losses_reported=sum(r["count"] for r in records if r["type"] == "loss"))
    else:
        lines = sum(1 for l in open(out) if l.startswith("trace id"))
        ours = sum(1 for l in open(out) if l.startswith("trace id") and "fwtbench" in l)
        row.update(events_received=lines - ours, losses_reported=None)
    row["cpu_seconds"] = round(cpu, 2)
    return row

def main():
    if os.geteuid() != 0: sys.exit("make bench needs root (network namespaces, nftables)")
    started = time.time()
    lab_up()
    results = {"machine": {"cores": os.cpu_count(), "kernel": os.uname().release}, "live": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cap, listing, save = capture(tmp)
            offline = json.loads(sh("taskset", "-c", "0", os.path.join(BIN, "fwtrace-bench"), "replay", cap, listing, save, "--events", "1000000").stdout)
            offline["command"] = "taskset -c 0 .build/release/fwtrace-bench replay <capture> <ruleset> <iptables-save> --events 1000000"
            results["offline"] = offline
            per_packet = events_per_packet(tmp)
            results["events_per_packet"] = round(per_packet, 2)
            for rate in (10000, 50000, 0):
                for receiver in ("fwtrace", "nft monitor trace"):
                    row = live("fwtrace" if receiver == "fwtrace" else "nft", 100000, rate, tmp)
                    row["receiver"] = receiver
                    row["events_expected"] = int(row["packets_traced"] * per_packet)
                    row["events_lost"] = max(0, row["events_expected"] - row["events_received"])
                    row["cpu_s_per_1000_events"] = round(row["cpu_seconds"] / max(1, row["events_received"]) * 1000, 4)
                    results["live"].append(row)
    finally:
        lab_down()
    results["seconds"] = round(time.time() - started, 1)
    json.dump(results, open(os.path.join(ROOT, "bench", "results.json"), "w"), indent=2)
    write_markdown(results)
    print(json.dumps(results, indent=2))

def write_markdown(r):
    o = r["offline"]
    lines = [
        "# Benchmarks", "",
        f"Regenerated by `sudo make bench` (bench/run.py) on {time.strftime('%Y-%m-%d')}: "
        f"{r['machine']['cores']} cores, kernel {r['machine']['kernel']}, release build. Total run {r['seconds']} s.", "",
        "## Offline pipeline (one core)", "",
        "A capture of real trace messages from the bench lab, replayed through decode → assemble → hints → JSON:", "",
        "| events | paths | events/s | ns/event | RSS after 100k events | RSS at end | peak RSS |", "|---|---|---|---|---|---|---|",
        f"| {o['events']} | {o['paths']} | {o['events_per_second']} | {o['ns_per_event']} | {o['rss_kib_after_100k_events']} KiB | {o['rss_kib_at_end']} KiB | {o['peak_rss_kib']} KiB |", "",
        f"Command: `{o['command']}`", "",
        "## Live, side by side", "",
        f"100,000 UDP packets per burst through the bench firewall; one traced packet gives {r['events_per_packet']} events "
        "(expected events = the DROP rule's kernel counter × that). Receivers write to /dev/null (fwtrace: JSON paths with rule text).", "",
        "| receiver | target rate (pkt/s, 0 = max) | achieved | packets traced | events expected | received | lost | losses reported | CPU s | CPU s / 1000 events |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["live"]:
        lines.append(f"| {x['receiver']} | {x['rate_target']} | {x['rate_achieved']} | {x['packets_traced']} | {x['events_expected']} | "
                     f"{x['events_received']} | {x['events_lost']} | {x['losses_reported'] if x['losses_reported'] is not None else 'n/a'} | "
                     f"{x['cpu_seconds']} | {x['cpu_s_per_1000_events']} |")
    lines += ["", "Not measured yet: `xtables-monitor --trace`, a minimal C receiver (the channel's ceiling), and latency (packet sent → JSON line written)."]
    open(os.path.join(ROOT, "docs", "benchmarks.md"), "w").write("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
