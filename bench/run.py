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
# The firewall's tools: iptables-nft here; bench/legacy.py sets iptables-legacy for its rows.
IPTABLES, IP6TABLES = "iptables-nft", "ip6tables-nft"
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
    for r in rules:
        srv(IPTABLES, *r)
        # The same firewall for IPv6 (ICMPv6 let through, as a real one must for neighbour discovery).
        if "192.0.2.0/24" in r: r = [w if w != "192.0.2.0/24" else "2001:db8::/32" for w in r]
        if r[-1] == "REJECT": srv(IP6TABLES, "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT")
        srv(IP6TABLES, *r)
    # What the server sends: checked on its way out too.
    srv(IPTABLES, "-A", "OUTPUT", "-p", "udp", "--dport", "9000:9100", "-j", "ACCEPT")
    srv(IPTABLES, "-t", "nat", "-A", "PREROUTING", "-p", "udp", "--dport", "9050", "-j", "DNAT", "--to-destination", "10.99.0.2:9051")

# The traffic generator: bench/udp_sender.c (sendmmsg, paced), compiled once per run.
SENDER_BIN = None

def build_sender(tmp):
    global SENDER_BIN
    SENDER_BIN = os.path.join(tmp, "udp_sender")
    sh("gcc", "-O2", "-o", SENDER_BIN, os.path.join(ROOT, "bench", "udp_sender.c"))

def send(count, rate, dst="10.99.0.2", ns=CLI):
    out = sh("ip", "netns", "exec", ns, SENDER_BIN, dst, str(count), str(rate))
    return float(out.stdout.strip())

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS

def drop_counter():
    out = srv(IPTABLES, "-L", "INPUT", "-v", "-x", "-n").stdout
    for line in out.splitlines():
        if "udp dpts:9000:9100" in line:
            return int(line.split()[0])
    return 0

def zero_counters(): srv(IPTABLES, "-Z")

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
    # A mix: IPv4 into the server (prerouting, input; a user chain and its return; 1 % DNAT), IPv6
    # into it, and IPv4 from it (output, postrouting).
    send(24000, 20000)
    send(4000, 20000, dst="fd99::2")
    send(2000, 20000, dst="10.99.0.1", ns=SRV)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT); p.wait()
    listing = os.path.join(tmp, "ruleset.nft"); save = os.path.join(tmp, "iptables-save.txt")
    open(listing, "w").write(srv("nft", "-a", "-y", "list", "ruleset").stdout)
    open(save, "w").write(srv("iptables-nft-save").stdout)
    return cap, listing, save

BENCH_TABLE = "table inet fwtbench {\n chain pre {\n  type filter hook prerouting priority -350;\n  udp dport 9000-9100 meta nftrace set 1\n }\n}\n"

def receiver_command(receiver, tmp):
    if receiver == "fwtrace":
        return [os.path.join(BIN, "fwtrace"), "follow", "--no-limit", "-p", "udp", "--dport", "9000:9100", "--format", "json"]
    if receiver == OVERLOADED:
        return receiver_command("fwtrace", tmp) + ["--receive-backlog", str(1 << 20), "--receive-buffer", str(256 << 10)]
    if receiver == "nft monitor trace":
        return ["nft", "monitor", "trace"]
    if receiver == "xtables-monitor --trace":
        return ["xtables-monitor", "--trace"]
    return [os.path.join(tmp, "count_receiver")]

def received_units(receiver, out):
    """What the receiver reports, in its own units: fwtrace counts every trace message it
    received; nft monitor trace and xtables-monitor print a line per event they show (they skip
    the handle-less end-of-chain events) plus packet lines; the C receiver counts messages."""
    if receiver.startswith("fwtrace"):
        records = [json.loads(l) for l in open(out) if l.startswith("{")]
        ended = [r for r in records if r.get("event") == "ended"]
        # Losses in trace events only: the unrecorded-packets record counts packets (a packet is
        # about 8 events), and adding it in over-reported the overloaded run.
        lost = sum(r["count"] for r in records if r.get("type") == "loss" and r.get("unit", "events") == "events")
        return (ended[-1]["events"] if ended else 0), lost, \
               (ended[-1]["paths"] if ended else 0)
    if receiver == "minimal C receiver":
        text = open(out).read().strip().splitlines()
        d = json.loads(text[-1]) if text else {"messages": 0}
        return d["messages"], None, None
    return sum(1 for l in open(out) if l.strip()), None, None

def live(receiver, count, rate, tmp):
    zero_counters()
    out = os.path.join(tmp, "receiver.out")
    if not receiver.startswith("fwtrace"):
        srv("nft", "-f", "-", input=BENCH_TABLE)
    f = open(out, "w")
    p = subprocess.Popen(["ip", "netns", "exec", SRV] + receiver_command(receiver, tmp), stdout=f, stderr=subprocess.STDOUT)
    if receiver.startswith("fwtrace"): wait_table()
    else: time.sleep(0.5)
    achieved = send(count, rate)
    time.sleep(1.0)   # let the receiver drain
    alive = p.poll() is None
    cpu = cpu_seconds(p.pid) if alive else None
    p.send_signal(signal.SIGINT)
    try: p.wait(timeout=10)
    except subprocess.TimeoutExpired: p.kill(); p.wait()
    f.close()
    if not receiver.startswith("fwtrace"): srv("nft", "delete", "table", "inet", "fwtbench")
    received, reported, paths = received_units(receiver, out)
    last_words = ""
    if not alive:
        lines = [l.strip() for l in open(out) if l.strip()]
        last_words = lines[-1][:160] if lines else ""
    row = {"receiver": receiver, "rate_target": rate, "rate_achieved": int(achieved), "packets_traced": drop_counter(),
           "received": received, "losses_reported": reported, "still_running_after_burst": alive,
           "cpu_seconds": None if cpu is None else round(cpu, 2), "exited_with": last_words}
    if paths is not None: row["paths"] = paths
    return row

def latency(tmp, count=2000, rate=1000):
    """Packet sent -> its JSON path line read from fwtrace's stdout, at a moderate rate."""
    reader = subprocess.Popen(["ip", "netns", "exec", SRV, os.path.join(BIN, "fwtrace"), "follow", "--no-limit", "-p", "udp",
                               "--dport", "9000:9100", "--format", "json", "--quiet-period", "100ms"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    wait_table()
    sender = subprocess.Popen(["ip", "netns", "exec", CLI, "/usr/bin/python3", "-c", r"""
import socket, sys, time, json
count, rate = int(sys.argv[1]), float(sys.argv[2]); sent = {}
start = time.monotonic()
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.1", 20000 + i))
    sent[20000 + i] = time.time(); s.sendto(b"x", ("10.99.0.2", 9000)); s.close()
    ahead = (i + 1) / rate - (time.monotonic() - start)
    if ahead > 0: time.sleep(ahead)
print(json.dumps(sent))
""", str(count), str(rate)], stdout=subprocess.PIPE, text=True)
    arrivals = {}
    deadline = time.time() + count / rate + 5
    while len(arrivals) < count and time.time() < deadline:
        line = reader.stdout.readline()
        if not line: break
        if '"type":"path"' in line:
            arrivals[json.loads(line)["packet"]["sport"]] = time.time()
    sent = json.loads(sender.communicate()[0])
    reader.send_signal(signal.SIGINT); reader.wait()
    lat = sorted((arrivals[int(k)] - v) * 1000 for k, v in sent.items() if int(k) in arrivals)
    if not lat: return {"packets": count, "paths_seen": 0}
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)
    return {"packets": count, "rate": rate, "paths_seen": len(lat), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(lat[-1], 2)}

RECEIVERS = ["fwtrace", "nft monitor trace", "xtables-monitor --trace", "minimal C receiver"]
# fwtrace made to lose: a 1 MiB backlog and a 256 KiB kernel queue at the generator's maximum, to
# show that what it loses is reported, and exactly (reported = expected - received).
OVERLOADED = "fwtrace, overloaded (--receive-backlog 1 MiB, --receive-buffer 256 KiB)"

def calibration():
    """Seconds of one core for a fixed piece of work (best of 3): this VM's speed changes by a
    third within an hour, and the figures of a run are read against it."""
    best = None
    for _ in range(3):
        out = sh("taskset", "-c", "0", "/usr/bin/python3", "-c",
                 "import time; t = time.process_time(); x = sum(i * i for i in range(3_000_000)); print(time.process_time() - t)")
        best = min(best or 1e9, float(out.stdout))
    return round(best, 3)

def main():
    if os.geteuid() != 0: sys.exit("make bench needs root (network namespaces, nftables)")
    started = time.time()
    speed_before = calibration()
    lab_up()
    results = {"machine": {"cores": os.cpu_count(), "kernel": os.uname().release}, "live": [], "commands": {
        "fwtrace": "fwtrace follow --no-limit -p udp --dport 9000:9100 --format json", "nft monitor trace": "nft monitor trace",
        "xtables-monitor --trace": "xtables-monitor --trace", "minimal C receiver": "bench/count_receiver.c (gcc -O2)"}}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            build_sender(tmp)
            cap, listing, save = capture(tmp)
            # Five runs, the median reported (and the best, the run least disturbed): on a shared
            # VM a run can be 40 % slower than the next one.
            runs = [json.loads(sh("taskset", "-c", "0", os.path.join(BIN, "fwtrace-bench"), "replay", cap, listing, save, "--events", "1000000").stdout)
                    for _ in range(5)]
            offline = sorted(runs, key=lambda x: x["events_per_second"])[2]
            offline["runs_events_per_second"] = [x["events_per_second"] for x in runs]
            offline["best_events_per_second"] = max(offline["runs_events_per_second"])
            offline["peak_rss_kib"] = max(x["peak_rss_kib"] for x in runs)
            offline["command"] = "taskset -c 0 .build/release/fwtrace-bench replay <capture> <ruleset> <iptables-save> --events 1000000 (5 runs, median)"
            results["offline"] = offline
            sh("gcc", "-O2", "-o", os.path.join(tmp, "count_receiver"), os.path.join(ROOT, "bench", "count_receiver.c"))
            # Calibration: what each receiver reports per traced packet when nothing is lost.
            per_packet = {}
            for receiver in RECEIVERS:
                row = live(receiver, 1000, 2000, tmp)
                if not row["still_running_after_burst"]:
                    row = live(receiver, 200, 200, tmp)   # a receiver that dies under load: calibrate gently
                # A receiver that died even then cannot be calibrated: its expected count is unknown.
                per_packet[receiver] = row["received"] / max(1, row["packets_traced"]) if row["still_running_after_burst"] else None
            results["units_per_packet"] = {k: (None if v is None else round(v, 2)) for k, v in per_packet.items()}
            for rate in (10000, 50000, 0):
                for receiver in RECEIVERS:
                    row = live(receiver, 100000, rate, tmp)
                    unit = per_packet[receiver]
                    row["expected"] = None if unit is None else int(row["packets_traced"] * unit)
                    row["lost"] = None if unit is None else max(0, row["expected"] - row["received"])
                    row["lost_percent"] = None if unit is None else round(100 * row["lost"] / max(1, row["expected"]), 1)
                    if row["cpu_seconds"] is not None:
                        row["cpu_s_per_1000_units"] = round(row["cpu_seconds"] / max(1, row["received"]) * 1000, 4)
                    results["live"].append(row)
            row = live(OVERLOADED, 100000, 0, tmp)
            unit = per_packet["fwtrace"]
            row["expected"] = int(row["packets_traced"] * unit)
            row["lost"] = max(0, row["expected"] - row["received"])
            row["lost_percent"] = round(100 * row["lost"] / max(1, row["expected"]), 1)
            if row["cpu_seconds"] is not None:
                row["cpu_s_per_1000_units"] = round(row["cpu_seconds"] / max(1, row["received"]) * 1000, 4)
            results["live"].append(row)
            results["latency"] = latency(tmp)
    finally:
        lab_down()
    results["seconds"] = round(time.time() - started, 1)
    results["machine"]["calibration_seconds"] = [speed_before, calibration()]
    json.dump(results, open(os.path.join(ROOT, "bench", "results.json"), "w"), indent=2)
    write_markdown(results)
    print(json.dumps(results, indent=2))

# What the numbers above rest on (issue 6, the fast path); written by hand, kept by regeneration.
FAST_PATH_NOTES = [
    "### The fast path (issue 6)", "",
    "Measured before it on the same machine (`make bench`, same capture method): 195,268 events/s (5,121 ns/event), peak RSS",
    "99,220 KiB with the capture held as one String plus an array per datagram; 8.7 heap allocations per event (valgrind",
    "memcheck, difference between 20k- and 60k-event runs); live at 50,000 packets/s fwtrace lost 56.6 %.",
    "What changed, each kept because `perf record` and this bench showed it paying (the output is byte-identical on the",
    "bench capture, checked with `fwtrace-bench --output`):", "",
    "- JSON: one owned raw buffer per record (no uniqueness check per appended byte), literal keys copied raw, numbers, the",
    "  RFC 3339 time, the trace id and IPv4 addresses written in place, strings scanned eight bytes at a time.",
    "- Assembly: a pending path is a class mutated in place (it was a struct copied out and back per event, copying its",
    "  steps); the chain of an event is found once, in a short list of recently met chains (with their rules by handle)",
    "  instead of hashing two strings per catalog lookup; hook reachability and base chains per hook are precomputed.",
    "- Decoding: the datagrams' messages walked in place; packet headers kept as slices of the datagram, not copies.",
    "- Hints: rules per chain precomputed; iptables rule words split on bytes; a rule's -j target read without splitting.",
    "- Receive: up to 64 datagrams per recvmmsg, decoded where they lie in the batch buffer. The buffer grows (doubling,",
    "  SO_RCVBUFFORCE, up to max(--receive-buffer, 64 MiB)) when the queue is more than half full or anything was dropped.",
    "  NETLINK_NO_ENOBUFS: with ENOBUFS, one overflow made the kernel drop every message until the queue was read empty",
    "  (tens of thousands per overflow at these queue sizes); now only what does not fit is dropped, and every drop is",
    "  reported in a loss record with the kernel's exact count (/proc/net/netlink), at most ten records a second.",
    "",
    "After it: 1.0 heap allocation and ~750 bytes allocated per event (8.7 and ~1,600 before; same valgrind method).",
    "Then `follow`'s output was batched: path records are encoded straight into one buffer (no String per record) and",
    "written once per receive turn, flushed each time the session goes back to wait for the kernel (or at 64 KiB), instead",
    "of one write(2) per path. Measured A/B, fwtrace alone at a 50,000 packets/s target, 100,000 packets, the two release",
    "binaries alternated in the same lab (bench/run.py's `live`): loss without batching 0, 1.8, 7.4, 19.4, 9.7, 11.7, 2.9 %;",
    "with it 0, 0, 3.7, 0, 23.2, 0, 0 % (5 of 7 runs lossless against 1 of 7). Kept. Runs on this VM vary a lot: the",
    "achieved rate ranged 37-50k packets/s and events per CPU-second 240-357k in both variants.",
    "",
    "Until then two targets were not met: 1,000,000 events/s offline (0.6-0.7M), and zero loss at 50,000 packets/s in",
    "every run (0-23 % lost). The third session's changes, each measured before it was kept:",
    "",
    "- **A receive thread with a backlog in memory** (TraceReceiver.swift, `--receive-backlog`, 32 MiB by default). In the",
    "  kernel's queue a 130-byte trace message costs about 1,280 bytes (its skb's truesize: a 64 MiB SO_RCVBUFFORCE queue,",
    "  which the kernel doubles to 128 MiB, held about 105,000 messages before dropping); read out and kept as bytes the",
    "  same messages take a tenth, so 32 MiB holds about 200,000 events: a 100,000-packet burst at 50,000/s (800,000",
    "  events) passes while the decoding thread catches up. A/B at a 50,000 packets/s target, alternated in the bench lab:",
    "  single thread lost 0-31 % (4 of 7 runs lost events), receive thread 0 % in 17 of 17 runs. It pauses 1 ms after a",
    "  busy drain (a full batch, or wakeups more than 5,000 a second): waking for a few datagrams at a time cost 20-40 %",
    "  more CPU at 10,000 packets/s; with the pause its CPU matches the single thread's and latency is unchanged (p50",
    "  0.13 ms, p99 6 ms at 1,000 packets/s). Past the backlog the kernel drops and counts; what was read is processed",
    "  before the session ends.",
    "- **The generator** is C (sendmmsg, paced): the Python one spent about half a core at 50,000 packets/s, so the rate",
    "  it reached depended on what else ran.",
    "- **Offline**, 641k → about 1.0M events/s by wall clock (best of 3 at each step, output byte-identical on the capture):",
    "  one JSON writer batches every record (the bench built a String per record, `follow` a buffer per record) 641k →",
    "  754k; exclusivity checks off in release builds of FWTraceCore (swift_beginAccess was about 5 %; debug builds and",
    "  tests keep them) → 813k; no copies of steps and events (iterating an array of steps copies each and retains its",
    "  five strings: walks by index; a step built where it stays) → 887k; enum values as JSON literals → 894k; the",
    "  decoder gathering fields in locals → 940k; the remaining walks by index → 988k; IPv6 addresses as two words (an",
    "  array made every copy of a packet summary retain and release), conntrack merged in place, the session prefix of",
    "  path records encoded once → 1.01-1.06M on the mixed capture.",
    "- **Then by instruction count** (callgrind on 200,000 events, deterministic: wall-clock runs on this VM began to",
    "  vary by 40 %), 1,793.7M → 1,525.0M instructions (-15 %), with fewer atomic reference-count operations besides",
    "  (retains 5.3M → 4.8M): attributes and packet headers read on the datagram's memory; numbers two digits at a time;",
    "  a header's name for a truncation error built only for the error (it was an interpolated String, an allocation,",
    "  per packet: -27M); the ACCEPT targets of a chain's rules found once per rule list (-39M); table and chain names",
    "  made once per session and compared as bytes (-91M: the earlier wall-clock A/B had missed it in the noise); steps",
    "  encoded through a pointer into the path's array (a `borrowing` parameter was still copied: 151k → 26k step",
    "  copies); rules shared by reference in the assembler; a finished path moved out, not copied; the packet view",
    "  borrowing its path. Paired wall-clock runs against the start of this round: median ratio 1.13.",
    "  Tried and dropped: building a step whole before appending it, and copying short strings byte by byte instead of",
    "  memmove (+74M instructions). Command: `valgrind --tool=callgrind .build/release/fwtrace-bench replay <the first",
    "  30,000 lines of the capture> <ruleset> <iptables-save> --events 200000` (about 218M of the total is reading the",
    "  capture and building the catalog, the same in every build).",
    "",
]

def write_markdown(r):
    o = r["offline"]
    lines = [
        "# Benchmarks", "",
        f"Regenerated by `sudo make bench` (bench/run.py) on {time.strftime('%Y-%m-%d')}: "
        f"{r['machine']['cores']} cores, kernel {r['machine']['kernel']}, release build. Total run {r['seconds']} s.", "",
        f"This VM's speed varies by a third within an hour. Calibration, one core, a fixed Python loop (best of 3, before and after",
        f"the run; lower is faster): {r['machine'].get('calibration_seconds')} s. Figures of runs with different calibrations do not compare.", "",
        "## Offline pipeline (one core)", "",
        "A capture of real trace messages from the bench lab (fwtrace follow --capture: IPv4 UDP into the server through",
        "prerouting and input, a user chain and its return, 1 % DNAT; IPv6 UDP into it; IPv4 UDP from it through output),",
        "replayed through decode → assemble → hints → JSON, paths encoded into one batch as `follow` does. 5 runs; the",
        "median run's figures (peak RSS: the highest of the 5):", "",
        "| events | paths | events/s (median) | best | the 5 runs | ns/event | RSS after 100k events | RSS at end | peak RSS (incl. the capture held in memory) |", "|---|---|---|---|---|---|---|---|---|",
        f"| {o['events']} | {o['paths']} | {o['events_per_second']} | {o.get('best_events_per_second', '')} | {', '.join(str(x) for x in o.get('runs_events_per_second', []))} | {o['ns_per_event']} | {o['rss_kib_after_100k_events']} KiB | {o['rss_kib_at_end']} KiB | {o['peak_rss_kib']} KiB |", "",
        f"Command: `{o['command']}`", "",
    ] + FAST_PATH_NOTES + [
        "## Live, side by side", "",
        "100,000 UDP packets per burst (bench/udp_sender.c: sendmmsg, paced) through the bench firewall (10 rules, a user chain, a DNAT). Each receiver's output is counted in",
        "its own units, calibrated at 2,000 packets/s where nothing is lost: fwtrace counts trace messages received; `nft monitor trace`",
        "and `xtables-monitor` print lines (they skip the end-of-chain events); the C receiver counts messages. Expected = the DROP",
        "rule's kernel counter × units per packet " + json.dumps(r["units_per_packet"]) + ". Output to /dev/null or a file.", "",
        "| receiver | target pkt/s (0 = max) | achieved | packets traced | expected | received | lost | lost % | losses reported | alive after burst | CPU s | CPU s / 1000 units |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["live"]:
        if x.get("exited_with"): x["receiver"] += " (exited: " + x["exited_with"].replace("|", "/") + ")"
        na = lambda v: "n/a" if v is None else v
        lines.append(f"| {x['receiver']} | {x['rate_target']} | {x['rate_achieved']} | {x['packets_traced']} | {na(x['expected'])} | {x['received']} | "
                     f"{na(x['lost'])} | {na(x['lost_percent'])} | {x['losses_reported'] if x['losses_reported'] is not None else 'n/a'} | "
                     f"{'yes' if x['still_running_after_burst'] else 'no'} | {x['cpu_seconds'] if x['cpu_seconds'] is not None else 'n/a'} | "
                     f"{x.get('cpu_s_per_1000_units', 'n/a')} |")
    lines += ["", "The overloaded fwtrace row is there to show the accounting: with a 1 MiB backlog and a 256 KiB kernel queue it",
              "cannot keep up at the generator's maximum, and the losses it reports (the kernel's Drops count for its socket,",
              "from /proc/net/netlink) equal expected − received."]
    l = r.get("latency", {})
    lines += ["", "## Latency", "",
              f"Packet sent → its JSON path line read from fwtrace's stdout, {l.get('packets')} packets at {l.get('rate')}/s: "
              f"p50 {l.get('p50_ms')} ms, p99 {l.get('p99_ms')} ms, max {l.get('max_ms')} ms ({l.get('paths_seen')} paths seen). "
              "A path that no verdict ends waits for the quiet period (100 ms); these packets end at a DROP, so they are emitted at once."]
    lines += other_sections(["## Offline pipeline (one core)", "## Live, side by side", "## Latency"])
    open(os.path.join(ROOT, "docs", "benchmarks.md"), "w").write("\n".join(lines) + "\n")

def other_sections(mine):
    """The sections of docs/benchmarks.md that another script writes (bench/legacy.py,
    bench/netns_scale.py's figures): kept as they are when this script regenerates its own."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    if not os.path.exists(path): return []
    kept, keep = [], False
    for line in open(path).read().splitlines():
        if line.startswith("## "): keep = line not in mine
        elif line.startswith("# "): keep = False
        if keep: kept.append(line)
    return [""] + kept if kept else []

def write_section(heading, lines):
    """Replaces the section `heading` of docs/benchmarks.md (appended when missing) with `lines`:
    each bench script writes its own section and keeps the others'."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(path).read().splitlines() if os.path.exists(path) else ["# Benchmarks"]
    out, skip = [], False
    for line in text:
        if line.startswith("## "): skip = line == heading
        if not skip: out.append(line)
    while out and not out[-1].strip(): out.pop()
    open(path, "w").write("\n".join(out + [""] + lines) + "\n")

if __name__ == "__main__":
    main()
