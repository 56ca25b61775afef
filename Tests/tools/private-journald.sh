#!/bin/bash
# Runs a command next to a real, private systemd-journald, then prints what the command logged.
#
#   Tests/tools/private-journald.sh [options] -- COMMAND [ARG...]
#
#   --query MATCH      journalctl match, e.g. FWTRACE_VERDICT=drop (repeatable; same field: OR,
#                      different fields: AND, as journalctl does). Default: _TRANSPORT=journal,
#                      i.e. every entry sent over the native protocol socket.
#   --every-entry      print every entry (also journald's own "Runtime Journal ..." lines)
#   --output FORMAT    journalctl output format (default json: one JSON object per line)
#   --timeout SECONDS  how long COMMAND may run before it gets SIGTERM (default 10)
#   --grace SECONDS    how long it then has to exit before SIGKILL (default 10)
#   --notify FILE      give COMMAND a $NOTIFY_SOCKET and write each sd_notify datagram it sends
#                      to FILE, one per line: "<seconds since start> <FIELD=VALUE> ...", e.g.
#                      "0.412 READY=1", "5.003 WATCHDOG=1", "10.007 STOPPING=1"
#   --watchdog-usec N  also set WATCHDOG_USEC=N and WATCHDOG_PID=<COMMAND's pid> (needs --notify)
#   --save DIR         copy the journal files to DIR (inspect later: journalctl -D DIR)
#
# Must run as root. What it does:
#   1. re-executes itself in a new mount namespace (unshare --mount --propagation slave): mounts
#      made here never reach the host, and mounts the host makes later (ip netns add) still
#      propagate in, so /run/netns/<name> created after the start works;
#   2. mounts tmpfs over /run/systemd, /run/log and /var/log/journal (if it exists) in that
#      namespace only, and writes a journald drop-in into the private
#      /run/systemd/journald.conf.d/ (volatile storage, no kmsg, no forwarding, no rate limit);
#   3. starts /lib/systemd/systemd-journald and waits (5 s max) for
#      /run/systemd/journal/socket;
#   4. runs COMMAND in the same namespace, in its own process group, stdin /dev/null, stdout
#      and stderr both to this script's stderr. After --timeout: SIGTERM, after --grace: SIGKILL.
#      Processes COMMAND left in its process group get SIGKILL;
#   5. `journalctl --sync`, then `journalctl -D /run/log/journal -q -a -o FORMAT MATCH...` to
#      stdout (-a: without it, -o json prints fields longer than 4096 bytes as null);
#   6. stops journald. The namespace and its tmpfs vanish with the last process in it.
# Nothing of the host's /run, /var/log or /etc is written.
#
# stdout: only the journalctl output (default: JSON lines). stderr: COMMAND's output, then a
# line "private-journald: COMMAND exited with status N[ after SIGTERM at T s]".
# Exit status: COMMAND's (128+signal if a signal ended it), 2 for bad usage, 125 when the private
# journald could not be set up.
set -u
prog=private-journald

if [ -z "${FWTRACE_PRIVATE_JOURNALD_INNER:-}" ]; then
    if [ "$(id -u)" != 0 ]; then echo "$prog: must run as root (it mounts in a private mount namespace)" >&2; exit 125; fi
    command -v unshare >/dev/null || { echo "$prog: unshare not found (apt-get install util-linux)" >&2; exit 125; }
    export FWTRACE_PRIVATE_JOURNALD_INNER=1
    exec unshare --mount --propagation slave -- /bin/bash "$(realpath "$0")" "$@"
fi
unset FWTRACE_PRIVATE_JOURNALD_INNER

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
matches=() all=0 output=json timeout=10 grace=10 notify= wdusec= save=
while [ $# -gt 0 ]; do
    case "$1" in
        --query) [ $# -ge 2 ] || usage; matches+=("$2"); shift 2 ;;
        --every-entry) all=1; shift ;;
        --output) [ $# -ge 2 ] || usage; output=$2; shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
        --grace) [ $# -ge 2 ] || usage; grace=$2; shift 2 ;;
        --notify) [ $# -ge 2 ] || usage; notify=$(realpath -m "$2"); shift 2 ;;
        --watchdog-usec) [ $# -ge 2 ] || usage; wdusec=$2; shift 2 ;;
        --save) [ $# -ge 2 ] || usage; save=$(realpath -m "$2"); shift 2 ;;
        --) shift; break ;;
        *) usage ;;
    esac
done
[ $# -ge 1 ] || usage
if [ -n "$wdusec" ] && [ -z "$notify" ]; then echo "$prog: --watchdog-usec needs --notify" >&2; exit 2; fi
[ "$all" = 1 ] && matches=()
[ "$all" = 0 ] && [ ${#matches[@]} -eq 0 ] && matches=(_TRANSPORT=journal)

fail() { echo "$prog: $*" >&2; exit 125; }

journald=
for j in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
    [ -x "$j" ] && { journald=$j; break; }
done
[ -n "$journald" ] || fail "systemd-journald not found (apt-get install systemd)"
command -v journalctl >/dev/null || fail "journalctl not found (apt-get install systemd)"

tmp=$(mktemp -d /tmp/fwtrace-journald.XXXXXX) || fail "mktemp failed"
jpid= npid= cpid=
cleanup() {
    [ -n "$cpid" ] && kill -KILL -- "-$cpid" 2>/dev/null
    [ -n "$npid" ] && kill "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
    [ -n "$jpid" ] && kill "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. Private /run/systemd, /run/log, /var/log/journal (this mount namespace only).
mount -t tmpfs -o mode=0755,size=256m fwtrace-journald /run/systemd || fail "cannot mount tmpfs on /run/systemd"
mount -t tmpfs -o mode=0755,size=256m fwtrace-journald /run/log || fail "cannot mount tmpfs on /run/log"
if [ -d /var/log/journal ]; then
    mount -t tmpfs -o mode=2755,size=16m fwtrace-journald /var/log/journal || fail "cannot mount tmpfs on /var/log/journal"
fi
# Drop-ins in /run override /etc/systemd/journald.conf; the last file name wins.
mkdir -p /run/systemd/journald.conf.d
cat > /run/systemd/journald.conf.d/zzzz-fwtrace-private.conf <<'EOF'
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
EOF

# 3. journald. It must not see a service manager's variables meant for this script.
env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES \
    "$journald" </dev/null >"$tmp/journald.log" 2>&1 &
jpid=$!
for _ in $(seq 50); do
    [ -S /run/systemd/journal/socket ] && break
    kill -0 "$jpid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -S /run/systemd/journal/socket ]; then
    cat "$tmp/journald.log" >&2
    fail "systemd-journald did not create /run/systemd/journal/socket within 5 s"
fi

# Optional sd_notify receiver.
if [ -n "$notify" ]; then
    : > "$notify" || fail "cannot write $notify"
    /usr/bin/python3 -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
t0 = float(sys.argv[3])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        d = s.recv(65536)
        f.write("%.3f %s\n" % (time.time() - t0, " ".join(d.decode(errors="replace").split("\n")).strip()))
' "$tmp/notify.sock" "$notify" "$(date +%s.%N)" &
    npid=$!
    for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
    [ -S "$tmp/notify.sock" ] || fail "notify receiver did not start"
fi

# 4. The command, in its own process group.
# setsid(1) does not fork here (the subshell is not a process group leader), so COMMAND keeps
# the subshell's pid ($BASHPID, $cpid) and becomes the leader of a new process group.
(
    if [ -n "$notify" ]; then export NOTIFY_SOCKET="$tmp/notify.sock"; fi
    if [ -n "$wdusec" ]; then export WATCHDOG_USEC="$wdusec" WATCHDOG_PID="$BASHPID"; fi
    exec setsid -- "$@"
) </dev/null >&2 2>&2 &
cpid=$!
# bash reports a job killed by a signal ("line N: PID Killed ( ... )") on its own stderr; keep
# that noise out while we wait (COMMAND's stderr was set up above and is not affected).
exec 3>&2 2>/dev/null
start=$(date +%s%N)
elapsed() { echo $(( ($(date +%s%N) - start) / 1000000 )); }
limit_ms=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')
grace_ms=$(awk -v t="$grace" 'BEGIN { printf "%d", t * 1000 }')
note=
while kill -0 "$cpid" 2>/dev/null && [ "$(elapsed)" -lt "$limit_ms" ]; do sleep 0.05; done
if kill -0 "$cpid" 2>/dev/null; then
    note=" after SIGTERM at $(awk -v m="$(elapsed)" 'BEGIN { printf "%.1f", m / 1000 }') s"
    kill -TERM "$cpid" 2>/dev/null
    t_term=$(elapsed)
    while kill -0 "$cpid" 2>/dev/null && [ $(( $(elapsed) - t_term )) -lt "$grace_ms" ]; do sleep 0.05; done
    if kill -0 "$cpid" 2>/dev/null; then
        note="$note and SIGKILL at $(awk -v m="$(elapsed)" 'BEGIN { printf "%.1f", m / 1000 }') s"
        kill -KILL "$cpid" 2>/dev/null
    fi
fi
wait "$cpid"; status=$?
kill -KILL -- "-$cpid" 2>/dev/null   # whatever it left in its process group
cpid=
exec 2>&3 3>&-
echo "$prog: COMMAND exited with status $status$note" >&2

# 5. Let journald drain its socket, then query.
if ! journalctl --sync >/dev/null 2>&1; then sleep 0.5; fi
journalctl -D /run/log/journal --no-pager -q -a -o "$output" "${matches[@]}"
if [ -n "$save" ]; then mkdir -p "$save" && cp -a /run/log/journal/. "$save/"; fi
exit "$status"
