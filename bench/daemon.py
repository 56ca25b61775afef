#!/usr/bin/python3
"""make bench, daemon rows (issue 17): `fwtrace daemon` with one watch and three sinks at once.

The bench lab of bench/run.py (namespaces fwt-bench-cli and fwt-bench-srv, the ten-rule firewall,
the C UDP sender). The daemon runs in the host namespace; its watch traces the server's namespace
(`netns = "fwt-bench-srv"`, udp dport 9000:9100, `limit` raised to 100000/second) and sends every
record to three sinks at once:

- file: JSON lines in this run's temp dir;
- journald: a real systemd-journald (/lib/systemd/systemd-journald) of this script's own, started
  in a private mount namespace (unshare --mount --propagation slave) whose /run/systemd and
  /run/log are bind mounts of directories in the temp dir, so the daemon (host mount namespace)
  reaches its socket at <tmp>/.../journal/socket and the journal is counted afterwards with
  `journalctl -D` (as Tests/tools/private-journald.sh does, with the same drop-in: volatile, no
  kmsg, no forwarding; RateLimitIntervalSec=0 for the throughput rows);
- socket: a unix stream collector run by this script (a Python process that counts lines).

For 10,000 and 50,000 packets/s (100,000 packets per burst, bench/udp_sender.c): packets traced
(the DROP rule's counter), paths produced (`fwtrace status` JSON: the watch's paths and lost),
receive loss, each sink's delivered paths and reported-lost records (the status JSON's per-sink
`lost`, and the sink's own in-band `loss` records), daemon CPU per path, peak RSS.

Then RSS over --rss-minutes (default 10): the same daemon at 10,000 packets/s in back-to-back
bursts, VmRSS sampled every 30 s.

Then journald's own rate limit, with a private journald left at its defaults
(RateLimitIntervalSec=30s, RateLimitBurst=10000): 100,000 packets at 10,000/s to the journald sink
alone, the daemon (a) in a cgroup named fwtrace.service in the unified hierarchy (what systemd
gives the unit: journald keys its limit on the unit it reads from the sender's cgroup), (b) in
that cgroup with the unit's LogRateLimitBurst=50000 as systemd exports it to journald (the
symlink /run/systemd/units/log-rate-limit-burst:fwtrace.service -> 50000 in the private
journald's /run/systemd), (c) in the root cgroup (no unit: how it runs without systemd). After
the burst the script waits for journald's 30 s window to end and sends one more packet: journald
writes its "Suppressed N messages from fwtrace.service" entry only when the next message of the
same priority arrives after the window.

Everything runs in the namespaces bench/run.py makes and deletes; the private journald's mounts
exist only in its own mount namespace; the cgroup is removed after. Writes
bench/results-daemon.json and the section "Daemon, three sinks at once (issue 17)" of
docs/benchmarks.md.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base

SRV = base.SRV
FWTRACE = os.path.join(base.BIN, "fwtrace")
JOURNALD = next((j for j in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald") if os.path.exists(j)), None)
# sd-messages.h: SD_MESSAGE_JOURNAL_DROPPED, the entry journald writes for "Suppressed N messages from UNIT".
JOURNAL_DROPPED = "a596d6fe7bfa4994828e72309e95d61e"
UNIT = "fwtrace.service"
CGROUP = "/sys/fs/cgroup/unified/" + UNIT if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup/" + UNIT
LIMIT = "100000/second"
BURST = 100000

# ---------------------------------------------------------------------------------------------
# A private journald

JOURNALD_INNER = r"""
set -e
mount --bind "$1/run-systemd" /run/systemd
mount --bind "$1/run-log" /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs -o size=16m fwt-bench-journal /var/log/journal; fi
exec env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES "$2"
"""

class Journald:
    """systemd-journald in its own mount namespace; its /run/systemd and /run/log are directories
    of `root`, so its socket and its journal files are reachable from here."""
    def __init__(self, root, settings, unit_burst=None):
        self.root = root
        for d in ("run-systemd/journald.conf.d", "run-systemd/units", "run-log"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        conf = ["[Journal]", "Storage=volatile", "ReadKMsg=no", "ForwardToSyslog=no", "ForwardToKMsg=no",
                "ForwardToConsole=no", "ForwardToWall=no"] + settings
        open(os.path.join(root, "run-systemd/journald.conf.d/zzzz-fwtrace-bench.conf"), "w").write("\n".join(conf) + "\n")
        if unit_burst is not None:
            # What systemd (PID 1) exports for a unit's LogRateLimitBurst= (unit_export_log_ratelimit_burst).
            os.symlink(str(unit_burst), os.path.join(root, "run-systemd/units/log-rate-limit-burst:" + UNIT))
        self.log = open(os.path.join(root, "journald.log"), "w")
        self.p = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "--", "/bin/bash", "-c", JOURNALD_INNER, "journald", root, JOURNALD],
                                  stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.socket = os.path.join(root, "run-systemd/journal/socket")
        for _ in range(100):
            if os.path.exists(self.socket) or self.p.poll() is not None: break
            time.sleep(0.05)
        if not os.path.exists(self.socket):
            raise RuntimeError("private journald did not start: " + open(os.path.join(root, "journald.log")).read())
        self.pid = self.p.pid   # unshare -> bash -> env -> journald, each an exec

    def sync(self):
        base.sh("nsenter", "-t", str(self.pid), "-m", "journalctl", "--sync", check=False)

    def stop(self):
        if self.p.poll() is None:
            self.sync()
            self.p.terminate()
            try: self.p.wait(timeout=20)
            except subprocess.TimeoutExpired: self.p.kill(); self.p.wait()
        self.log.close()

    def query(self, *matches, output="cat"):
        return base.sh("journalctl", "-D", os.path.join(self.root, "run-log/journal"), "--no-pager", "-q", "-a", "-o", output, *matches, check=False).stdout

    def count(self, *matches):
        return sum(1 for l in self.query(*matches).splitlines() if l.strip())

    def suppressions(self):
        entries = [json.loads(l) for l in self.query("MESSAGE_ID=" + JOURNAL_DROPPED, output="json").splitlines() if l.startswith("{")]
        return entries

# ---------------------------------------------------------------------------------------------
# The collector: a unix stream listener that counts lines (paths, loss records, the rest)

COLLECTOR = r"""
import json, os, signal, socket, sys, threading
path, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from daemon import count_line
counts = {"lines": 0, "paths": 0, "loss_records": 0, "sink_lost": 0, "other": 0, "connections": 0}
lock = threading.Lock()
def dump(*_):
    with lock: text = json.dumps(counts)
    open(out + ".new", "w").write(text); os.replace(out + ".new", out)
def stop(*_): dump(); os._exit(0)
signal.signal(signal.SIGTERM, stop)
def serve(conn):
    rest = b""
    while True:
        data = conn.recv(1 << 20)
        if not data: break
        lines = (rest + data).split(b"\n"); rest = lines.pop()
        with lock:
            for l in lines: count_line(counts, l, "collector")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(path); s.listen(8)
def ticker():
    while True: threading.Event().wait(0.5); dump()
threading.Thread(target=ticker, daemon=True).start()
print("listening", flush=True)
while True:
    c, _ = s.accept()
    with lock: counts["connections"] += 1
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

class Collector:
    def __init__(self, tmp):
        self.path, self.out = os.path.join(tmp, "collector.sock"), os.path.join(tmp, "collector.json")
        self.p = subprocess.Popen(["/usr/bin/python3", "-c", COLLECTOR, self.path, self.out, os.path.dirname(os.path.abspath(__file__))], stdout=subprocess.PIPE, text=True)
        self.p.stdout.readline()
    def counts(self):
        try: return json.load(open(self.out))
        except (OSError, ValueError): return {"lines": 0, "paths": 0, "loss_records": 0, "sink_lost": 0, "other": 0}
    def stop(self):
        if self.p.poll() is None:
            self.p.terminate(); self.p.wait(timeout=10)
        return self.counts()

# ---------------------------------------------------------------------------------------------
# The daemon

def config_text(tmp, journal_socket, sinks=("file", "journal", "collector")):
    parts = [f'''[daemon]
socket = "{tmp}/ctl.sock"
socket_group = "root"
max_trace_rate = 200000
''']
    if "file" in sinks:
        parts.append(f'[[sink]]\nname = "file"\ntype = "file"\npath = "{tmp}/paths.jsonl"\n')
    if "journal" in sinks:
        parts.append(f'[[sink]]\nname = "journal"\ntype = "journald"\njournal_socket = "{journal_socket}"\n')
    if "collector" in sinks:
        parts.append(f'[[sink]]\nname = "collector"\ntype = "socket"\naddress = "unix:{tmp}/collector.sock"\n')
    parts.append(f'''[[watch]]
name = "bench"
netns = "{SRV}"
proto = "udp"
dport = "9000:9100"
limit = "{LIMIT}"
''')
    return "\n".join(parts)

class Daemon:
    def __init__(self, tmp, config, cgroup=None):
        self.tmp = tmp
        self.socket = os.path.join(tmp, "ctl.sock")
        path = os.path.join(tmp, "fwtrace.toml")
        open(path, "w").write(config)
        base.sh(FWTRACE, "daemon", "--check", "--config", path)
        self.err = os.path.join(tmp, "daemon.err")
        def enter_cgroup():
            if cgroup: open(os.path.join(cgroup, "cgroup.procs"), "w").write(str(os.getpid()))
        self.p = subprocess.Popen([FWTRACE, "daemon", "--config", path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(self.err, "w"), preexec_fn=enter_cgroup)
        deadline = time.time() + 20
        while "ready:" not in open(self.err).read():
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError("daemon did not become ready: " + open(self.err).read())
            time.sleep(0.05)
        base.wait_table()
        while self.status()["watches"][0].get("state") != "running":
            if time.time() > deadline: raise RuntimeError("watch not running: " + json.dumps(self.status()))
            time.sleep(0.05)

    def status(self):
        return json.loads(base.sh(FWTRACE, "status", "--socket", self.socket, "--format", "json").stdout)

    def proc_status(self, key):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith(key + ":"): return int(line.split()[1])

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try: self.p.wait(timeout=30)
        except subprocess.TimeoutExpired: self.p.kill(); self.p.wait()
        base.wait_table(present=False)
        return self.p.returncode

def sink_lost(status):
    return {s["name"]: s["lost"] for s in status["sinks"]}

def settle(daemon, probes, quiet=2.0, limit=180):
    """Waits until the status counters and every probe stop changing for `quiet` seconds."""
    last, since, start = None, time.time(), time.time()
    while time.time() - start < limit:
        st = daemon.status()
        now = (st["watches"][0]["paths"], st["watches"][0]["lost"], tuple(sorted(sink_lost(st).items())), tuple(p() for p in probes))
        if now != last: last, since = now, time.time()
        elif time.time() - since >= quiet: return st
        time.sleep(0.25)
    return daemon.status()

def file_counts(path):
    counts = {"lines": 0, "paths": 0, "loss_records": 0, "sink_lost": 0, "other": 0}
    if not os.path.exists(path): return counts
    with open(path, "rb") as f:
        for l in f: count_line(counts, l, "file")
    return counts

def count_line(counts, line, sink):
    """One JSON line a sink delivered: a path, a loss record (the sink's own adds to sink_lost),
    or another record. The collector process counts with this too."""
    counts["lines"] += 1
    if b'"type":"path"' in line[:80]: counts["paths"] += 1
    elif b'"type":"loss"' in line[:80]:
        counts["loss_records"] += 1
        r = json.loads(line)
        if r.get("reason") == "sink" and r.get("sink") == sink: counts["sink_lost"] += r["count"]
    else: counts["other"] += 1

def journal_counts(j):
    """The journal's entries of each type; the journal sink's own loss records (FWTRACE_SINK)."""
    counts = {"paths": j.count("FWTRACE_TYPE=path"), "loss_records": 0, "sink_lost": 0,
              "other": j.count("FWTRACE_TYPE=session") + j.count("FWTRACE_TYPE=error")}
    for l in j.query("FWTRACE_TYPE=loss").splitlines():
        if not l.startswith("{"): continue
        counts["loss_records"] += 1
        r = json.loads(l)
        if r.get("reason") == "sink" and r.get("sink") == "journal": counts["sink_lost"] += r["count"]
    counts["lines"] = counts["paths"] + counts["loss_records"] + counts["other"]
    return counts

def receive_loss(records_path):
    """The watch's loss records (any reason but a sink's), from the file sink's copy: count by reason and unit."""
    out = {}
    if not os.path.exists(records_path): return out
    with open(records_path, "rb") as f:
        for l in f:
            if b'"type":"loss"' not in l[:80]: continue
            r = json.loads(l)
            if r.get("reason") == "sink": continue
            key = f"{r.get('reason')} ({r.get('unit', 'events')})"
            out[key] = out.get(key, 0) + r["count"]
    return out

# ---------------------------------------------------------------------------------------------
# Rows

def three_sinks(rate, tmp):
    run = tempfile.mkdtemp(dir=tmp, prefix=f"rate{rate}-")
    base.zero_counters()
    j = Journald(os.path.join(run, "journald"), ["RateLimitIntervalSec=0", "RuntimeMaxUse=4G"])
    collector = Collector(run)
    d = None
    try:
        d = Daemon(run, config_text(run, j.socket))
        cpu0, jcpu0 = base.cpu_seconds(d.p.pid), base.cpu_seconds(j.pid)
        achieved = base.send(BURST, rate)
        paths_file = os.path.join(run, "paths.jsonl")
        st = settle(d, [lambda: os.path.getsize(paths_file) if os.path.exists(paths_file) else 0,
                        lambda: collector.counts()["lines"], lambda: base.cpu_seconds(j.pid)])
        cpu1, jcpu1 = base.cpu_seconds(d.p.pid), base.cpu_seconds(j.pid)
        rss, hwm, threads = d.proc_status("VmRSS"), d.proc_status("VmHWM"), d.proc_status("Threads")
        traced = base.drop_counter()
        exit_code = d.stop(); d = None
        j.stop()
        coll = collector.stop()
        produced, watch_lost = st["watches"][0]["paths"], st["watches"][0]["lost"]
        lost = sink_lost(st)
        sinks = {}
        for name, counts in (("file", file_counts(paths_file)), ("journal", journal_counts(j)), ("collector", coll)):
            delivered = counts["paths"]
            sinks[name] = {"delivered_paths": delivered, "delivered_records": counts["lines"],
                           "reported_lost_status": lost.get(name), "reported_lost_in_band": counts["sink_lost"],
                           "delivered_plus_reported": delivered + lost.get(name, 0),
                           "difference": produced - delivered - lost.get(name, 0),
                           "other_records": {"loss": counts["loss_records"], "session/error": counts["other"]}}
        return {"rate_target": rate, "rate_achieved": int(achieved), "packets_traced": traced, "paths_produced": produced,
                "watch_lost_reported": watch_lost, "receive_loss_records": receive_loss(paths_file),
                "traced_minus_paths": traced - produced, "sinks": sinks,
                "daemon_cpu_seconds": round(cpu1 - cpu0, 2), "daemon_cpu_us_per_path": round((cpu1 - cpu0) / max(1, produced) * 1e6, 1),
                "journald_cpu_seconds": round(jcpu1 - jcpu0, 2), "rss_kib_after": rss, "peak_rss_kib": hwm, "threads": threads,
                "daemon_exit": exit_code}
    finally:
        if d: d.p.kill(); d.p.wait()
        j.stop(); collector.stop()
        base.sh("rm", "-rf", run)

def rss_over_time(minutes, tmp, rate=10000):
    run = tempfile.mkdtemp(dir=tmp, prefix="rss-")
    base.zero_counters()
    # RuntimeMaxUse: the journal keeps at most 1 GiB (journald vacuums the oldest files), and the file
    # sink's file is truncated after each burst (the daemon appends): minutes of 10k paths/s are GBs.
    j = Journald(os.path.join(run, "journald"), ["RateLimitIntervalSec=0", "RuntimeMaxUse=1G"])
    collector = Collector(run)
    d = None
    samples, stop = [], threading.Event()
    try:
        d = Daemon(run, config_text(run, j.socket))
        start = time.time()
        def sample():
            while True:
                samples.append({"t_s": round(time.time() - start), "rss_kib": d.proc_status("VmRSS")})
                if stop.wait(30): return
        sampler = threading.Thread(target=sample); sampler.start()
        cpu0, bursts, achieved = base.cpu_seconds(d.p.pid), 0, []
        paths_file = os.path.join(run, "paths.jsonl")
        while time.time() - start < minutes * 60 - BURST / rate:
            achieved.append(base.send(BURST, rate)); bursts += 1
            if os.path.exists(paths_file): os.truncate(paths_file, 0)
        # The last sample at the end of the run (the sampler's next tick may be up to 30 s away).
        while time.time() - start < minutes * 60: time.sleep(0.5)
        stop.set(); sampler.join()
        if samples[-1]["t_s"] < minutes * 60 - 1:
            samples.append({"t_s": round(time.time() - start), "rss_kib": d.proc_status("VmRSS")})
        st = settle(d, [lambda: collector.counts()["lines"], lambda: base.cpu_seconds(j.pid)])
        cpu = base.cpu_seconds(d.p.pid) - cpu0
        hwm = d.proc_status("VmHWM")
        traced = base.drop_counter()
        d.stop(); d = None
        coll = collector.stop()
        produced = st["watches"][0]["paths"]
        return {"minutes": minutes, "rate_target": rate, "bursts": bursts, "rate_achieved_min": int(min(achieved)) if achieved else None,
                "packets_traced": traced, "paths_produced": produced, "watch_lost_reported": st["watches"][0]["lost"],
                "sink_lost": sink_lost(st), "collector_paths": coll["paths"],
                "daemon_cpu_us_per_path": round(cpu / max(1, produced) * 1e6, 1), "samples": samples,
                "rss_first_kib": samples[0]["rss_kib"], "rss_last_kib": samples[-1]["rss_kib"],
                "rss_max_sample_kib": max(s["rss_kib"] for s in samples), "peak_rss_kib": hwm}
    finally:
        stop.set()
        if d: d.p.kill(); d.p.wait()
        j.stop(); collector.stop()
        base.sh("rm", "-rf", run)

def journald_rate_limit(case, tmp, rate=10000):
    """case: 'unit' (cgroup fwtrace.service), 'unit+burst' (and LogRateLimitBurst=50000), 'root' (no unit)."""
    run = tempfile.mkdtemp(dir=tmp, prefix="rl-")
    base.zero_counters()
    j = Journald(os.path.join(run, "journald"), [], unit_burst=50000 if case == "unit+burst" else None)
    cgroup = None
    if case != "root":
        if os.path.exists(CGROUP): sys.exit(f"{CGROUP} exists and is not this script's: the rate-limit rows need a cgroup of their own")
        os.makedirs(CGROUP); cgroup = CGROUP
    d = None
    try:
        d = Daemon(run, config_text(run, j.socket, sinks=("journal",)), cgroup=cgroup)
        send_start = time.time()
        achieved = base.send(BURST, rate)
        st = settle(d, [lambda: base.cpu_seconds(j.pid)])
        j.sync()
        produced_burst = st["watches"][0]["paths"]
        stored_burst = j.count("FWTRACE_TYPE=path")
        suppressed_burst = sum(int(e["N_DROPPED"]) for e in j.suppressions())
        # journald writes "Suppressed N" only with the next message of that priority after the
        # window (30 s from the first): wait for it to end and send one packet more.
        time.sleep(max(0, send_start + 32 - time.time()))
        base.send(1, 1000)
        st = settle(d, [lambda: base.cpu_seconds(j.pid)])
        j.sync()
        produced = st["watches"][0]["paths"]
        stored = j.count("FWTRACE_TYPE=path")
        notices = j.suppressions()
        suppressed = sum(int(e["N_DROPPED"]) for e in notices)
        sink_reported = sink_lost(st).get("journal")
        runtime_line = next((l for l in j.query(output="cat").splitlines() if l.startswith("Runtime Journal")), "")
        first = next((json.loads(l) for l in j.query("FWTRACE_TYPE=path", output="json").splitlines() if l.startswith("{")), {})
        unit = first.get("_SYSTEMD_UNIT", "(none)")
        d.stop(); d = None
        j.stop()
        notice_fields = {k: v for k, v in notices[0].items() if not k.startswith("__")} if notices else None
        return {"case": case, "rate_target": rate, "rate_achieved": int(achieved), "paths_produced": produced,
                "stored": stored, "suppressed_sum": suppressed, "stored_plus_suppressed": stored + suppressed,
                "difference": produced - stored - suppressed, "notices": len(notices),
                "after_burst": {"produced": produced_burst, "stored": stored_burst, "suppressed_sum": suppressed_burst},
                "fwtrace_sink_lost_reported": sink_reported, "sender_unit": unit,
                "journald_runtime": runtime_line, "notice_example": notice_fields}
    finally:
        if d: d.p.kill(); d.p.wait()
        j.stop()
        if cgroup:
            try: os.rmdir(cgroup)
            except OSError as e: print(f"cannot remove {cgroup}: {e}", file=sys.stderr)
        base.sh("rm", "-rf", run)

# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rss-minutes", type=float, default=10, help="length of the RSS run (0: skip it; default 10)")
    ap.add_argument("--rates", default="10000,50000", help="packets/s of the three-sink rows (default 10000,50000)")
    ap.add_argument("--rate-limit", choices=["yes", "no"], default="yes", help="the journald rate-limit rows (default yes)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave results-daemon.json and docs/benchmarks.md alone")
    args = ap.parse_args()
    if os.geteuid() != 0: sys.exit("make bench needs root (network namespaces, nftables, mounts)")
    if not JOURNALD: sys.exit("systemd-journald not found (apt-get install systemd)")
    started = time.time()
    results = {"machine": {"cores": os.cpu_count(), "kernel": os.uname().release, "calibration_seconds": [base.calibration()],
                           "journald": base.sh("journalctl", "--version").stdout.splitlines()[0]},
               "command": "sudo make bench (bench/daemon.py); directly: sudo /usr/bin/python3 bench/daemon.py " + " ".join(sys.argv[1:]),
               "watch": {"netns": SRV, "proto": "udp", "dport": "9000:9100", "limit": LIMIT},
               "rows": [], "rss": None, "rate_limit": []}
    previous = os.path.join(base.ROOT, "bench", "results-daemon.json")
    base.lab_up()
    try:
        with tempfile.TemporaryDirectory(prefix="fwt-bench-daemon-") as tmp:
            os.chmod(tmp, 0o755)
            base.build_sender(tmp)
            command = results["command"].split("directly: ")[-1]
            for rate in [int(r) for r in args.rates.split(",") if r]:
                row = three_sinks(rate, tmp); row["command"] = command; print(json.dumps(row), flush=True); results["rows"].append(row)
            if args.rss_minutes > 0:
                results["rss"] = rss_over_time(args.rss_minutes, tmp); results["rss"]["command"] = command
                print(json.dumps(results["rss"]), flush=True)
            if args.rate_limit == "yes":
                for case in ("unit", "unit+burst", "root"):
                    row = journald_rate_limit(case, tmp); row["command"] = command; print(json.dumps(row), flush=True); results["rate_limit"].append(row)
    finally:
        base.lab_down()
    results["seconds"] = round(time.time() - started, 1)
    results["machine"]["calibration_seconds"].append(base.calibration())
    # A partial run (--rss-minutes 0, --rate-limit no) keeps the earlier run's other parts, marked as such.
    if os.path.exists(previous):
        old = json.load(open(previous))
        for key in ("rows", "rss", "rate_limit"):
            if not results[key] and old.get(key):
                results[key] = old[key]
                results.setdefault("kept_from_earlier_run", {})[key] = old.get("date", "?")
    results["date"] = time.strftime("%Y-%m-%d %H:%M")
    print(json.dumps(results, indent=2))
    if args.no_write: return
    json.dump(results, open(previous, "w"), indent=2)
    write_section(results)

HEADING = "## Daemon, three sinks at once (issue 17)"

def write_section(r):
    m = r["machine"]
    lines = [HEADING, "",
             f"Regenerated by `sudo make bench` (bench/daemon.py) on {r['date']}: {m['cores']} cores, kernel {m['kernel']}, "
             f"{m['journald']}, release build, {r['seconds']} s; calibration {m['calibration_seconds']} s.", "",
             f"Command: `sudo make bench` runs `/usr/bin/python3 bench/daemon.py` after bench/legacy.py; this run: `{r['command'].split('directly: ')[-1]}`.", ""]
    if r.get("kept_from_earlier_run"):
        def part_command(k):
            x = r[k][0] if isinstance(r[k], list) else r[k]
            return f", `{x['command']}`" if x.get("command") else ""
        lines += ["Parts kept from an earlier run (this one skipped them): " + "; ".join(f"{k} ({v}{part_command(k)})" for k, v in r["kept_from_earlier_run"].items()) + ".", ""]
    lines += [
        "`fwtrace daemon` in the host namespace, one watch on the bench lab's server namespace (`netns = \"fwt-bench-srv\"`,",
        f"`proto = \"udp\"`, `dport = \"9000:9100\"`, `limit = \"{LIMIT}\"`, `max_trace_rate = 200000`), every record to three sinks",
        "at once with their default buffers (10,000 records each): a file, journald's native protocol (a private",
        "systemd-journald with `RateLimitIntervalSec=0`), and a unix-socket collector (a Python process counting lines).",
        f"{BURST:,} UDP packets per burst. Produced = the watch's `paths` in `fwtrace status --format json`; receive loss = its",
        "`lost` (loss records of the session: kernel drops, backlog) and traced − produced. Per sink: delivered path records",
        "(file lines, journal entries `journalctl -D … FWTRACE_TYPE=path`, collector lines) and reported lost (the status",
        "JSON's per-sink `lost`; the sink's own in-band `loss` records agree where shown). CPU: the daemon's utime+stime",
        "over the burst and the drain.", "",
        "| target pkt/s | achieved | traced | produced | receive loss (reported; traced − produced) | file: delivered + reported | journald: delivered + reported | socket: delivered + reported | daemon CPU s | µs CPU / path | journald CPU s | RSS after | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def cell(s):
        ok = "= produced" if s["difference"] == 0 else f"**{-s['difference']:+} vs produced**"
        band = "" if s["reported_lost_in_band"] == s["reported_lost_status"] else f" (in-band loss records: {s['reported_lost_in_band']})"
        return f"{s['delivered_paths']} + {s['reported_lost_status']} {ok}{band}"
    for x in r["rows"]:
        s = x["sinks"]
        lines.append(f"| {x['rate_target']} | {x['rate_achieved']} | {x['packets_traced']} | {x['paths_produced']} | {x['watch_lost_reported']}; {x['traced_minus_paths']} | "
                     f"{cell(s['file'])} | {cell(s['journal'])} | {cell(s['collector'])} | {x['daemon_cpu_seconds']} | {x['daemon_cpu_us_per_path']} | "
                     f"{x['journald_cpu_seconds']} | {x['rss_kib_after']} KiB | {x['peak_rss_kib']} KiB |")
    slow = [x for x in r["rows"] if x["rate_achieved"] < 0.9 * x["rate_target"]]
    for x in slow:
        lines += ["", f"At a {x['rate_target']:,} packets/s target the sender reached {x['rate_achieved']:,}/s: the two cores were shared by the",
                  "sender, the daemon, journald and the collector (their CPU seconds above), so that row is a "
                  f"{x['rate_achieved']:,}/s row; bench/run.py's rows, with `fwtrace follow` alone, reach the target."]
    q = r.get("rss")
    if q:
        lines += ["", f"RSS over {q['minutes']:g} minutes: the same daemon and sinks at {q['rate_target']:,} packets/s in back-to-back bursts "
                  f"({q['bursts']} bursts, the slowest at {q['rate_achieved_min']}/s; the journal capped at 1 GiB, the file truncated after each burst), "
                  f"VmRSS every 30 s: {q['rss_first_kib']} KiB before the first packet, {q['samples'][1]['rss_kib'] if len(q['samples']) > 1 else 'n/a'} KiB at 30 s, "
                  f"last {q['rss_last_kib']} KiB, highest sample {q['rss_max_sample_kib']} KiB, "
                  f"peak (VmHWM) {q['peak_rss_kib']} KiB. {q['paths_produced']:,} paths produced of {q['packets_traced']:,} packets traced, receive loss reported "
                  f"{q['watch_lost_reported']}; sinks' reported lost {json.dumps(q['sink_lost'])} (records a sink dropped when it fell behind, counted; "
                  f"the journal is not counted here: journald vacuums it at the cap); {q['daemon_cpu_us_per_path']} µs CPU per path.", "",
                  "| t (s) | " + " | ".join(str(s["t_s"]) for s in q["samples"]) + " |",
                  "|---|" + "---|" * len(q["samples"]),
                  "| VmRSS (KiB) | " + " | ".join(str(s["rss_kib"]) for s in q["samples"]) + " |"]
    if r.get("rate_limit"):
        names = {"unit": "cgroup fwtrace.service, journald defaults",
                 "unit+burst": "cgroup fwtrace.service, unit LogRateLimitBurst=50000",
                 "root": "root cgroup (no unit: not started by systemd)"}
        lines += ["", "### journald's own rate limit", "",
                  f"{BURST:,} packets at 10,000/s to the journald sink alone, a private journald with its defaults (RateLimitIntervalSec=30s,",
                  "RateLimitBurst=10000). journald keys the limit on the unit it reads from the sender's cgroup, so the daemon runs in",
                  "a cgroup named fwtrace.service (what systemd gives the unit); LogRateLimitBurst= is what systemd exports to",
                  "journald as /run/systemd/units/log-rate-limit-burst:fwtrace.service. Stored = entries FWTRACE_TYPE=path;",
                  f"suppressed = the sum of N_DROPPED over journald's entries MESSAGE_ID={JOURNAL_DROPPED}. After the burst the",
                  "script waits for the 30 s window to end and sends one packet more (journald writes the notice only with the next",
                  "message of the same priority after the window); \"after the burst\" is before that packet.", "",
                  "| daemon in | produced | stored | suppressed (sum of N_DROPPED) | stored + suppressed | after the burst: produced / stored / suppressed | fwtrace's journald sink: reported lost | journald's runtime journal |",
                  "|---|---|---|---|---|---|---|---|"]
        for x in r["rate_limit"]:
            a = x["after_burst"]
            add = "= produced" if x["difference"] == 0 else f"**{-x['difference']:+} vs produced**"
            lines.append(f"| {names[x['case']]} | {x['paths_produced']} | {x['stored']} | {x['suppressed_sum']} ({x['notices']} notice{'' if x['notices'] == 1 else 's'}) | {x['stored_plus_suppressed']} {add} | "
                         f"{a['produced']} / {a['stored']} / {a['suppressed_sum']} | {x['fwtrace_sink_lost_reported']} | {x['journald_runtime'].split(') ')[-1].removeprefix('is ')} |")
        limited = next((x for x in r["rate_limit"] if x["case"] == "unit"), None)
        if limited:
            lines += ["", f"The first window stored {limited['after_burst']['stored']:,} drop paths, not 10,000: journald scales the burst by the space",
                      "it may still use (burst_modulate in journald-rate-limit.c: burst × (log2(bytes free) − 16) / 4 above 2 MiB; 3.9 GiB",
                      "free gives log2 = 31, × 3.75 = 37,500), and counts each priority apart (these paths are all PRIORITY=4)."]
        ex = next((x["notice_example"] for x in r["rate_limit"] if x.get("notice_example")), None)
        if ex:
            keep = ["MESSAGE", "MESSAGE_ID", "N_DROPPED", "PRIORITY", "SYSLOG_IDENTIFIER", "_TRANSPORT", "OBJECT_PID", "OBJECT_SYSTEMD_UNIT", "OBJECT_COMM", "OBJECT_SYSTEMD_CGROUP"]
            lines += ["", "journald's notice, as `journalctl -D <dir> -o json MESSAGE_ID=" + JOURNAL_DROPPED + "` shows it (selected fields):", "",
                      "```", json.dumps({k: ex[k] for k in keep if k in ex}), "```"]
    lines += ["", "How to read it: a sink's delivered + reported lost equals produced when the daemon accounts for every path it made;",
              "a sink that falls behind (journald is the slowest) drops its oldest records and counts them, so its row still adds",
              "up. journald's own rate limit is outside that: the datagram is accepted by the socket and discarded by journald, so",
              "fwtrace's journald sink reports 0 lost, and the only account is journald's \"Suppressed N messages from",
              "fwtrace.service\" entries, written when the unit next logs at the same priority after the window. See",
              "docs/log-pipelines.md for the query. Measured figures of one run each; this VM varies by ±30 %."]
    base.write_section(HEADING, lines)

if __name__ == "__main__":
    main()
