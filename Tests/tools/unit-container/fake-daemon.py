#!/usr/bin/python3
# Stands in for `fwtrace daemon` in Tests/tools/unit-container.sh: does what the daemon will do
# under systemd/fwtrace.service and records in /var/log/fwtrace/selftest.txt what the sandbox allowed.
import os, socket, signal, subprocess, sys, time, threading, errno
os.makedirs("/var/log/fwtrace", exist_ok=True)
out = open("/var/log/fwtrace/selftest.txt", "w", buffering=1)
def log(k, v): out.write(f"{k}: {v}\n")
def notify(m):
    p = os.environ.get("NOTIFY_SOCKET")
    if not p: return
    if p.startswith("@"): p = "\0" + p[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(m.encode(), p); s.close()
def run(args):
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return f"rc={r.returncode} " + " | ".join((r.stdout + r.stderr).strip().splitlines())[:200]
    except Exception as e:
        return f"exception {e!r}"
def attempt(name, fn):
    try: log(name, f"ok {fn()}")
    except OSError as e: log(name, f"{errno.errorcode.get(e.errno, e.errno)} {e.strerror}")

log("argv", sys.argv)
for l in open("/proc/self/mountinfo"):
    f = l.split()
    if f[4] in ("/", "/run", "/run/netns", "/run/fwtrace", "/var/log/fwtrace", "/proc/sys", "/proc/sys/net", "/tmp", "/etc", "/usr"):
        log("mount " + f[4], f[5] + " " + " ".join(x for x in f[6:f.index("-")]))
log("xtables.lock exists at start", os.path.exists("/run/xtables.lock"))
log("ids", (os.getuid(), os.getgid(), os.getgroups()))
st = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status")}
for k in ("CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"): log(k, st.get(k))
log("umask", oct(os.umask(0o027)))
log("env", {k: v for k, v in os.environ.items() if k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "RUNTIME_DIRECTORY", "LOGS_DIRECTORY", "INVOCATION_ID")})
s = os.stat("/run/fwtrace"); log("/run/fwtrace", f"{oct(s.st_mode)} uid={s.st_uid} gid={s.st_gid}")
s = os.stat("/var/log/fwtrace"); log("/var/log/fwtrace", f"{oct(s.st_mode)} uid={s.st_uid} gid={s.st_gid}")
# control socket
sp = "/run/fwtrace/fwtrace.sock"
if os.path.exists(sp): os.unlink(sp)
ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); ctl.bind(sp); ctl.listen(4)
s = os.stat(sp); log("socket after bind", f"{oct(s.st_mode)} gid={s.st_gid}")
os.chmod(sp, 0o660); s = os.stat(sp); log("socket after chmod", f"{oct(s.st_mode)} gid={s.st_gid}")
attempt("chown socket to gid 0 (expect EPERM: @chown filtered)", lambda: os.chown(sp, -1, 0))
attempt("write /var/log/fwtrace/paths.jsonl", lambda: open("/var/log/fwtrace/paths.jsonl", "a").write("{}\n"))
s = os.stat("/var/log/fwtrace/paths.jsonl"); log("paths.jsonl", f"{oct(s.st_mode)} gid={s.st_gid}")
attempt("write /run/fwtrace/legacy-netns-1.state", lambda: open("/run/fwtrace/legacy-netns-1.state", "w").write("nf_log_ipv4\n"))
attempt("write /etc/fwtrace-probe (expect EROFS)", lambda: open("/etc/fwtrace-probe", "w"))
attempt("write /run/fwtrace-probe (expect EROFS)", lambda: open("/run/fwtrace-probe", "w"))
attempt("write /proc/sys/vm/swappiness (expect EROFS)", lambda: open("/proc/sys/vm/swappiness", "w").write(open("/proc/sys/vm/swappiness").read()))
attempt("write /tmp/x (PrivateTmp)", lambda: open("/tmp/x", "w").write("x"))
attempt("open /proc/1/ns/net (CAP_SYS_PTRACE)", lambda: os.close(os.open("/proc/1/ns/net", os.O_RDONLY)))
# service's own netns (the container's)
log("nft add table", run(["nft", "add", "table", "inet", "fwtops_selftest"]))
log("nft list tables", run(["nft", "list", "tables"]))
log("nft delete table", run(["nft", "delete", "table", "inet", "fwtops_selftest"]))
log("iptables-legacy -w -t raw -S", run(["iptables-legacy", "-w", "-t", "raw", "-S"]))
log("iptables-nft-save", run(["iptables-nft-save"]))
log("conntrack -L", run(["conntrack", "-L"]))
log("nf_log/2 here", run(["sh", "-c", "cat /proc/sys/net/netfilter/nf_log/2; echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2 && cat /proc/sys/net/netfilter/nf_log/2; echo NONE > /proc/sys/net/netfilter/nf_log/2"]))
# another namespace, entered with setns(fd, CLONE_NEWNET) (nsenter --net does that)
ns = ["nsenter", "--net=/run/netns/t1", "--"]
log("t1 nf_log/2", run(ns + ["sh", "-c", "cat /proc/sys/net/netfilter/nf_log/2; echo nfnetlink_log > /proc/sys/net/netfilter/nf_log/2 && cat /proc/sys/net/netfilter/nf_log/2; echo NONE > /proc/sys/net/netfilter/nf_log/2"]))
log("t1 nf_conntrack_log_invalid", run(ns + ["sh", "-c", "echo 1 > /proc/sys/net/netfilter/nf_conntrack_log_invalid && cat /proc/sys/net/netfilter/nf_conntrack_log_invalid; echo 0 > /proc/sys/net/netfilter/nf_conntrack_log_invalid"]))
log("t1 iptables-legacy -I TRACE", run(ns + ["iptables-legacy", "-w", "-t", "raw", "-I", "PREROUTING", "1", "-p", "tcp", "--dport", "9", "-m", "limit", "--limit", "100/sec", "-m", "comment", "--comment", "fwtrace:selftest", "-j", "TRACE"]))
log("t1 iptables-legacy-save", run(ns + ["iptables-legacy-save"]))
log("t1 ip6tables-legacy -S", run(ns + ["ip6tables-legacy", "-w", "-t", "raw", "-S"]))
log("t1 nft", run(ns + ["nft", "add", "table", "ip", "t"]))
log("setns(fd, 0) via ctypes (expect EPERM)", run(["/usr/bin/python3", "-c", "import ctypes,os; l=ctypes.CDLL(None,use_errno=True); fd=os.open('/run/netns/t1',os.O_RDONLY); r=l.setns(fd,0); print(r, os.strerror(ctypes.get_errno()))"]))
log("unshare -m (expect refused)", run(["unshare", "-m", "true"]))
log("ip netns exec (expect refused)", run(["ip", "netns", "exec", "t1", "true"]))
# journald native protocol
j = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
j.sendto(b'MESSAGE={"schema":"fwtrace/1","type":"path","verdict":"drop"}\nPRIORITY=4\nSYSLOG_IDENTIFIER=fwtrace\nFWTRACE_TYPE=path\nFWTRACE_VERDICT=drop\n', "/run/systemd/journal/socket")
log("journald send", "ok")
print('{"schema":"fwtrace/1","type":"session","event":"started"}', flush=True)   # stdout sink
# localhost TCP (collector) allowed
attempt("tcp socket to 127.0.0.1:9 (expect ECONNREFUSED, i.e. allowed)", lambda: socket.create_connection(("127.0.0.1", 9), timeout=1))
log("process_vm_readv (expect EPERM)", run(["/usr/bin/python3", "-c", "import ctypes,os; l=ctypes.CDLL(None,use_errno=True); r=l.process_vm_readv(1,None,0,None,0,0); print(r, os.strerror(ctypes.get_errno()))"]))
attempt("AF_PACKET socket (expect EAFNOSUPPORT)", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
notify("READY=1\nSTATUS=selftest running")
log("READY", time.time())
stop = threading.Event(); reloads = []
def wd():
    usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    while usec and not stop.is_set():
        notify("WATCHDOG=1"); stop.wait(usec / 2e6)
threading.Thread(target=wd, daemon=True).start()
def hup(*_):
    notify("RELOADING=1"); reloads.append(time.time()); log("SIGHUP", "reload"); notify("READY=1")
signal.signal(signal.SIGHUP, hup)
signal.signal(signal.SIGTERM, lambda *_: stop.set())
# a namespace added after the start must be visible (mount propagation into the service)
for _ in range(100):
    if os.path.exists("/run/netns/t2") or stop.is_set(): break
    time.sleep(0.1)
time.sleep(0.5)
log("t2 (added after start)", run(["nsenter", "--net=/run/netns/t2", "--", "ip", "-o", "link"]))
while not stop.is_set(): stop.wait(0.2)
notify("STOPPING=1")
log("t1 iptables-legacy -D TRACE (cleanup on SIGTERM)", run(ns + ["iptables-legacy", "-w", "-t", "raw", "-D", "PREROUTING", "-p", "tcp", "--dport", "9", "-m", "limit", "--limit", "100/sec", "-m", "comment", "--comment", "fwtrace:selftest", "-j", "TRACE"]))
os.unlink(sp)
log("SIGTERM", "clean exit")
sys.exit(0)
