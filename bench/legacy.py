#!/usr/bin/python3
"""make bench, legacy rows: iptables-legacy TRACE received side by side, on this machine.

The bench lab of bench/run.py (namespaces fwt-bench-cli and fwt-bench-srv, the same ten-rule
firewall with a user chain and a DNAT), written with iptables-legacy. The same UDP bursts (100,000
packets at 10,000 and 50,000 packets/s and at the generator's maximum) are traced by:

- fwtrace: `fwtrace follow --backend legacy --no-limit -p udp --dport 9000:9100 --format json`
  (its own TRACE rules, nfnetlink_log through libnetfilter_log);
- ulogd2, the logger legacy users run: its NFLOG input on group 0 (bind=1, so it is the family's
  logger), BASE, IFINDEX, IP2STR and its JSON output to a file, with the TRACE rule added by this
  script, the same receive buffer as fwtrace's (16 MiB, growing to 64 MiB) and one message per
  datagram (netlink_qthreshold=1, as fwtrace asks).

For each: messages expected (the DROP rule's kernel counter x messages per packet, calibrated at
2,000 packets/s where nothing is lost), received, lost, what it reported of its losses, CPU
seconds per 1,000 messages;
- the kernel's own TRACE to the log: nf_log_syslog, the family's logger when nothing binds
  nfnetlink_log, read with `dmesg --follow-new` (what an admin reads). From a namespace other than
  the first, nf_log_syslog logs only while the host-wide sysctl net.netfilter.nf_log_all_netns is
  1: this script sets it for those runs alone and puts the value it found back (also on error).
  The records land in the host's kernel ring buffer (console only if the console loglevel is above
  4, warning: the script says which); nothing else outside the namespaces changes.

Everything runs in the namespaces this script makes and deletes. Writes bench/results-legacy.json
and the section "Legacy backend, side by side" of docs/benchmarks.md.
"""
import json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base

base.IPTABLES, base.IP6TABLES = "iptables-legacy", "ip6tables-legacy"
SRV = base.SRV
ULOGD_PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
KERNEL_LOG = "kernel log (nf_log_syslog, dmesg --follow-new)"
RECEIVERS = ["fwtrace (legacy)", "ulogd2 (NFLOG, JSON)", KERNEL_LOG]
ALL_NETNS = "/proc/sys/net/netfilter/nf_log_all_netns"
# fwtrace made to lose, to show the accounting: a 1 MiB backlog and a 256 KiB kernel queue at the
# generator's maximum; what it reports lost must equal expected - received.
OVERLOADED = "fwtrace (legacy), overloaded (--receive-backlog 1 MiB, --receive-buffer 256 KiB)"
TRACE_RULE = ["-p", "udp", "--dport", "9000:9100", "-j", "TRACE"]

def ulogd_config(tmp):
    path = os.path.join(tmp, "ulogd.conf")
    plugins = "\n".join(f'plugin="{ULOGD_PLUGINS}/ulogd_{p}.so"' for p in
                        ["inppkt_NFLOG", "raw2packet_BASE", "filter_IFINDEX", "filter_IP2STR", "output_JSON"])
    open(path, "w").write(f"""[global]
logfile="{tmp}/ulogd.log"
loglevel=5
{plugins}
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON

[log1]
group=0
bind=1
netlink_socket_buffer_size=16777216
netlink_socket_buffer_maxsize=67108864
netlink_qthreshold=1

[json1]
file="{tmp}/ulogd.json"
sync=0
""")
    return path

def command(receiver, tmp):
    if receiver == OVERLOADED:
        return command("fwtrace", tmp) + ["--receive-backlog", str(1 << 20), "--receive-buffer", str(256 << 10)]
    if receiver.startswith("fwtrace"):
        return [os.path.join(base.BIN, "fwtrace"), "follow", "--backend", "legacy", "--no-limit", "-p", "udp",
                "--dport", "9000:9100", "--format", "json"]
    if receiver == KERNEL_LOG:
        return ["dmesg", "--follow-new", "--notime"]
    return ["ulogd", "-c", ulogd_config(tmp)]

def wait_trace_rule(present=True):
    for _ in range(100):
        if ("fwtrace" in base.srv("iptables-legacy", "-t", "raw", "-S", "PREROUTING").stdout) == present: return
        time.sleep(0.05)

def received(receiver, out, tmp):
    """Messages received and what the receiver said of its losses."""
    if receiver.startswith("fwtrace"):
        records = [json.loads(l) for l in open(out) if l.startswith("{")]
        ended = [r for r in records if r.get("event") == "ended"]
        lost = sum(r["count"] for r in records if r.get("type") == "loss" and r.get("unit", "events") == "events")
        return (ended[-1]["events"] if ended else 0), lost
    if receiver == KERNEL_LOG:
        # Only this bench's records: TRACE lines of its UDP ports (the ring buffer is the host's).
        n = sum(1 for l in open(out, errors="replace") if "TRACE: " in l and " DPT=90" in l)
        # /dev/kmsg returns EPIPE to a reader the ring buffer overtook; util-linux dmesg
        # (read_kmsg_one) retries past it without a word.
        return n, "nothing (dmesg skips the records the ring buffer overwrote without a word)"
    json_path = os.path.join(tmp, "ulogd.json")
    n = sum(1 for l in open(json_path) if l.strip()) if os.path.exists(json_path) else 0
    log = open(os.path.join(tmp, "ulogd.log")).read() if os.path.exists(os.path.join(tmp, "ulogd.log")) else ""
    # What ulogd's NFLOG input logs when the kernel reported ENOBUFS (it grows its buffer, or
    # cannot): that events were lost, never how many.
    losing, full = log.count("We are losing events"), log.count("Maximum buffer size")
    said = [f"'We are losing events' ×{losing}"] * bool(losing) + [f"'Maximum buffer size … reached' ×{full}"] * bool(full)
    return n, ("logged " + ", ".join(said) + ", no count" if said else "nothing")

def machine_busy_seconds():
    """CPU seconds of all cores but idle and iowait: the kernel log's cost is spent in the packet
    path (printk in softirq), not in its reader, so every row also says what the machine spent."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / base.TICKS

def kernel_log(on, saved=[]):
    """nf_log_all_netns on for a kernel-log run, and back to the value found (a list as a memo)."""
    if on:
        saved[:] = [open(ALL_NETNS).read().strip()]
        open(ALL_NETNS, "w").write("1")
        # The family's logger in the server's namespace: nf_log_syslog (fwtrace's legacy backend
        # binds nfnetlink_log while it runs and puts the binding back on exit).
        base.srv("sysctl", "-q", "-w", "net.netfilter.nf_log.2=nf_log_ipv4")
    elif saved:
        open(ALL_NETNS, "w").write(saved.pop())

def live(receiver, count, rate, tmp):
    base.zero_counters()
    out = os.path.join(tmp, "receiver.out")
    for f in ("ulogd.json", "ulogd.log"):
        if os.path.exists(os.path.join(tmp, f)): os.remove(os.path.join(tmp, f))
    ours = not receiver.startswith("fwtrace")   # the TRACE rule is this script's, not fwtrace's
    try:
        if receiver == KERNEL_LOG: kernel_log(True)
        if ours: base.srv("iptables-legacy", "-t", "raw", "-I", "PREROUTING", *TRACE_RULE)
        f = open(out, "w")
        p = subprocess.Popen(["ip", "netns", "exec", SRV] + command(receiver, tmp), stdout=f, stderr=subprocess.STDOUT)
        if ours: time.sleep(1.0)
        else: wait_trace_rule()
        busy = machine_busy_seconds()
        achieved = base.send(count, rate)
        time.sleep(1.5)   # let the receiver drain
        busy = machine_busy_seconds() - busy
        alive = p.poll() is None
        cpu = base.cpu_seconds(p.pid) if alive else None
        p.send_signal(signal.SIGINT if receiver.startswith("fwtrace") else signal.SIGTERM)
        try: p.wait(timeout=15)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        f.close()
        if ours: base.srv("iptables-legacy", "-t", "raw", "-D", "PREROUTING", *TRACE_RULE)
    finally:
        if receiver == KERNEL_LOG: kernel_log(False)
    got, reported = received(receiver, out, tmp)
    return {"receiver": receiver, "rate_target": rate, "rate_achieved": int(achieved), "packets_traced": base.drop_counter(),
            "received": got, "losses_reported": reported, "still_running_after_burst": alive,
            "cpu_seconds": None if cpu is None else round(cpu, 2), "machine_cpu_seconds": round(busy, 2)}

def main():
    if os.geteuid() != 0: sys.exit("make bench needs root (network namespaces, iptables-legacy)")
    started = time.time()
    results = {"machine": {"cores": os.cpu_count(), "kernel": os.uname().release, "calibration_seconds": [base.calibration()],
                           "console_loglevel": int(open("/proc/sys/kernel/printk").read().split()[0])},
               "commands": {"fwtrace (legacy)": " ".join(["fwtrace"] + command("fwtrace", "")[1:]),
                            "ulogd2 (NFLOG, JSON)": "ulogd -c ulogd.conf (NFLOG group 0 bind=1, netlink_socket_buffer_size=16 MiB, maxsize=64 MiB, netlink_qthreshold=1; BASE, IFINDEX, IP2STR, JSON to a file)",
                            KERNEL_LOG: "dmesg --follow-new --notime (the TRACE rule's messages through nf_log_syslog; net.netfilter.nf_log_all_netns=1 for these runs only)"},
               "live": []}
    base.lab_up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            base.build_sender(tmp)
            per_packet = {}
            for receiver in RECEIVERS:
                row = live(receiver, 1000, 2000, tmp)
                per_packet[receiver] = row["received"] / max(1, row["packets_traced"])
            results["messages_per_packet"] = {k: round(v, 2) for k, v in per_packet.items()}
            for rate, receiver in [(r, x) for r in (10000, 50000, 0) for x in RECEIVERS] + [(0, OVERLOADED)]:
                row = live(receiver, 100000, rate, tmp)
                row["expected"] = int(round(row["packets_traced"] * per_packet[receiver if receiver != OVERLOADED else RECEIVERS[0]]))
                row["lost"] = max(0, row["expected"] - row["received"])
                row["lost_percent"] = round(100 * row["lost"] / max(1, row["expected"]), 1)
                if row["cpu_seconds"] is not None:
                    row["cpu_s_per_1000_messages"] = round(row["cpu_seconds"] / max(1, row["received"]) * 1000, 4)
                # The machine's CPU per 1000 messages expected (what the packets cost, received or not).
                row["machine_cpu_s_per_1000_expected"] = round(row["machine_cpu_seconds"] / max(1, row["expected"]) * 1000, 4)
                results["live"].append(row)
    finally:
        base.lab_down()
    results["seconds"] = round(time.time() - started, 1)
    results["machine"]["calibration_seconds"].append(base.calibration())
    json.dump(results, open(os.path.join(base.ROOT, "bench", "results-legacy.json"), "w"), indent=2)
    write_section(results)
    print(json.dumps(results, indent=2))

HEADING = "## Legacy backend, side by side (issue 16)"

def write_section(r):
    lines = [HEADING, "",
             f"Regenerated by `sudo make bench` (bench/legacy.py) on {time.strftime('%Y-%m-%d')}: {r['machine']['cores']} cores, "
             f"kernel {r['machine']['kernel']}, release build, {r['seconds']} s; calibration {r['machine']['calibration_seconds']} s.", "",
             "The bench lab's firewall written with iptables-legacy; 100,000 UDP packets per burst; iptables TRACE through",
             "nfnetlink_log, received by fwtrace's legacy backend and by ulogd2 (commands below). Expected = the DROP rule's kernel",
             "counter × messages per packet " + json.dumps(r["messages_per_packet"]) + " (calibrated at 2,000 packets/s). The kernel log",
             "row is the same TRACE rule with nf_log_syslog as the logger, read by `dmesg --follow-new` (records of this bench's",
             "ports counted); its cost is spent by the kernel in the packet path, so each row also gives the machine's CPU",
             "(all cores but idle, from /proc/stat, over the burst and drain) per 1000 messages expected. fwtrace's",
             "losses reported are the counts of its loss records (the socket's drop counter, one message per datagram); ulogd2",
             "logs a line when the kernel reports ENOBUFS (it grows its buffer, or says it cannot), never a count. The overloaded fwtrace row (a 1 MiB backlog, a 256 KiB",
             "kernel queue, at the generator's maximum) shows the accounting: what it reports lost is expected − received.", "",
             "| receiver | target pkt/s (0 = max) | achieved | packets traced | expected | received | lost | lost % | losses reported | alive after burst | CPU s | CPU s / 1000 messages | machine CPU s | machine CPU s / 1000 expected |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["live"]:
        lines.append(f"| {x['receiver']} | {x['rate_target']} | {x['rate_achieved']} | {x['packets_traced']} | {x['expected']} | {x['received']} | "
                     f"{x['lost']} | {x['lost_percent']} | {x['losses_reported']} | {'yes' if x['still_running_after_burst'] else 'no'} | "
                     f"{x['cpu_seconds'] if x['cpu_seconds'] is not None else 'n/a'} | {x.get('cpu_s_per_1000_messages', 'n/a')} | {x['machine_cpu_seconds']} | {x['machine_cpu_s_per_1000_expected']} |")
    lines += ["", "Commands: " + "; ".join(f"{k}: `{v}`" for k, v in r["commands"].items()) + ".", "",
              "The kernel log row needs the host-wide sysctl net.netfilter.nf_log_all_netns (from any network namespace but the",
              "first, nf_log_syslog logs nothing without it): the script sets it to 1 for those runs only and puts back the value",
              "it found. Its records go to the host's kernel ring buffer, and to the console only where the console loglevel is",
              f"above 4 (warning); it was {r['machine']['console_loglevel']} in this run."]
    base.write_section(HEADING, lines)

if __name__ == "__main__":
    main()
