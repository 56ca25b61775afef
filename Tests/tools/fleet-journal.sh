#!/bin/bash
# A fleet's central journal, with systemd's own shipping tools. Two "hosts", each with a hostname
# of its own (UTS namespace), a private systemd-journald (mount namespace) and a real fwtrace
# daemon whose journald sink writes to that journald. Each host's systemd-journal-upload ships its
# journal over HTTP to one systemd-journal-remote in a third, "central" namespace. Then the script
# prints what queries of the central journal by FWTRACE_* fields and _HOSTNAME find.
#
#   Tests/tools/fleet-journal.sh [options] FWTRACE_BINARY WORKDIR
#
#   --keep           keep WORKDIR/fleet/ (the central journal in WORKDIR/fleet/central/, each
#                    host's daemon config and log, journald and uploader logs, upload state)
#   --wait SECONDS   how long to wait for the entries to reach the central journal (default 30)
#
# WORKDIR must exist. The script makes WORKDIR/fleet/ (left from an earlier --keep: emptied first)
# and deletes it at exit, unless --keep. Must run as root. What it does:
#   1. network namespaces fwt-fleet-c (central), fwt-fleet-a and fwt-fleet-b, veth pairs
#      c 10.97.1.1 <-> a 10.97.1.2 and c 10.97.2.1 <-> b 10.97.2.2 (left from a crashed run:
#      deleted first). In a and b: table inet fleet, udp dport 7001 drop, udp dport 7002 accept;
#   2. /lib/systemd/systemd-journal-remote in fwt-fleet-c:
#      --listen-http=19532 --output=WORKDIR/fleet/central/ --split-mode=host;
#   3. for each host X in a, b, a holder process in a new mount + UTS namespace
#      (unshare --mount --uts --propagation slave) with hostname fwt-host-X and tmpfs over
#      /run/systemd, /run/log and /var/log/journal; the journald drop-in of private-journald.sh
#      in its /run/systemd/journald.conf.d/. Entered with nsenter -t HOLDER -m -u:
#      systemd-journald; `fwtrace daemon` (socket WORKDIR/fleet/X/ctl.sock, socket_group root,
#      one journald sink, watch "fleet" on netns fwt-fleet-X, udp dport 7001,7002); and, also in
#      network namespace fwt-fleet-X (nsenter --net=/run/netns/fwt-fleet-X),
#      systemd-journal-upload --url=http://10.97.X.1:19532 -D /run/log/journal
#      --save-state=WORKDIR/fleet/X/upload.state;
#   4. from fwt-fleet-c (Tests/tools/send.py): to a 2 UDP packets to port 7001 (dropped), 1 to 7002
#      (accepted); to b 5 dropped and 1 accepted; waits until the central journal has them. Then
#      a's uploader is stopped, a gets 1 more dropped and 1 more accepted packet, and the
#      uploader is started again with the same state file, to send only what is new. In the end
#      a has 3 drop and 2 accept paths, b 5 and 1. (systemd-journal-upload 252 sends the entry
#      the state file names once more after its restart: here a's first accept path, so the
#      central journal has it twice: see docs/log-pipelines.md);
#   5. stops the daemons (SIGTERM: their trace rules go, their "ended" session records are
#      logged and uploaded), then the uploaders, journal-remote, the journalds and the holders;
#   6. prints the results, then deletes the namespaces (and WORKDIR/fleet unless --keep).
# Nothing of the host's ruleset, /etc, /run or /var/log is written; no process is left.
#
# stdout, for a parser: "# files: NAME..." (the central journal files), "# state-entry a: JSON"
# (host a's journal entry that the uploader's state file named when it was stopped: -o json),
# then for each query a line "# query: MATCH..." followed by the JSON lines of
# `journalctl -D WORKDIR/fleet/central -q -a -o json MATCH...`. The queries:
#   FWTRACE_VERDICT=drop _HOSTNAME=fwt-host-a      FWTRACE_VERDICT=drop _HOSTNAME=fwt-host-b
#   FWTRACE_VERDICT=accept _HOSTNAME=fwt-host-a    FWTRACE_VERDICT=accept _HOSTNAME=fwt-host-b
#   FWTRACE_TYPE=session _HOSTNAME=fwt-host-a      FWTRACE_TYPE=session _HOSTNAME=fwt-host-b
#   SYSLOG_IDENTIFIER=fwtrace                      (every fwtrace entry of both hosts)
# stderr: progress, and the logs of what failed.
# Exit status: 0 when every expected entry reached the central journal in time, 1 when not (the
# results are printed all the same), 2 for bad usage, 125 when the setup failed.
set -u
prog=fleet-journal

usage() { sed -n '8,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
keep=0 wait_s=30
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=1; shift ;;
        --wait) [ $# -ge 2 ] || usage; wait_s=$2; shift 2 ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || usage
fail() { echo "$prog: $*" >&2; exit 125; }
[ "$(id -u)" = 0 ] || fail "must run as root (network, mount and UTS namespaces)"
binary=$(realpath -e -- "$1" 2>/dev/null) && [ -x "$binary" ] || fail "not an executable: $1"
workdir=$(realpath -e -- "$2" 2>/dev/null) && [ -d "$workdir" ] || fail "WORKDIR must be an existing directory: $2"
case "$workdir" in /|/run|/run/*|/etc|/etc/*|/var/log|/var/log/*) fail "WORKDIR must not be /, or under /run, /etc, /var/log: $workdir" ;; esac

here=$(dirname "$(realpath "$0")")
send=$here/send.py
journald=/lib/systemd/systemd-journald
upload=/lib/systemd/systemd-journal-upload
remote=/lib/systemd/systemd-journal-remote
for t in "$journald" "$upload" "$remote"; do
    [ -x "$t" ] || fail "$t not found (apt-get install systemd systemd-journal-remote)"
done
for t in journalctl unshare nsenter ip nft ss python3 hostname; do
    command -v "$t" >/dev/null || fail "$t not found"
done
[ -f "$send" ] || fail "$send not found"

hosts=(a b)
central=fwt-fleet-c
port=19532
declare -A addr=([a]=10.97.1.2 [b]=10.97.2.2) gw=([a]=10.97.1.1 [b]=10.97.2.1)
declare -A holder=() jpid=() dpid=() upid=()
rpid=
fleet=$workdir/fleet
made_dir=0
status=0

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
alive() { # a zombie is not
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
}
# SIGTERM; SIGKILL after $2 seconds (default 10); then reaps it.
terminate() { # <pid> [seconds]
    local p=$1 limit=$(( ${2:-10} * 10 ))
    [ -n "$p" ] || return 0
    if kill -TERM "$p" 2>/dev/null; then
        for _ in $(seq "$limit"); do alive "$p" || break; sleep 0.1; done
        if alive "$p"; then
            echo "$prog: pid $p still running after SIGTERM: SIGKILL" >&2
            kill -KILL "$p" 2>/dev/null
        fi
    fi
    wait "$p" 2>/dev/null
    return 0
}
delete_namespaces() {
    local ns
    for ns in fwt-fleet-a fwt-fleet-b fwt-fleet-c; do
        [ -e "/run/netns/$ns" ] && ip netns delete "$ns"
    done
}

cleanup() {
    local x
    exec 2>/dev/null   # no "Terminated" noise from bash about its jobs
    for x in "${hosts[@]}"; do terminate "${dpid[$x]:-}" 20; done
    for x in "${hosts[@]}"; do terminate "${upid[$x]:-}"; done
    terminate "$rpid"
    for x in "${hosts[@]}"; do terminate "${jpid[$x]:-}"; done
    for x in "${hosts[@]}"; do terminate "${holder[$x]:-}" 2; done
    exec 2>&3
    delete_namespaces
    if [ "$made_dir" = 1 ] && [ "$keep" = 0 ]; then rm -rf -- "$fleet"; fi
}
exec 3>&2
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In host X's mount + UTS namespace (and, with --net, its network namespace too).
in_host() { local x=$1; shift; nsenter -t "${holder[$x]}" -m -u -- "$@"; }
# Background starters: `spawn_in_host X CMD... &` execs in the background subshell, so $! is CMD.
spawn_in_host() { local x=$1; shift; exec nsenter -t "${holder[$x]}" -m -u -- "$@"; }
spawn_in_host_net() { local x=$1; shift; exec nsenter -t "${holder[$x]}" -m -u --net="/run/netns/fwt-fleet-$x" -- "$@"; }
central_query() { journalctl -D "$fleet/central" --no-pager -q -a -o json "$@" 2>/dev/null; }
central_count() { central_query "$@" | grep -c .; }

# 1. Namespaces and the firewall of each host.
delete_namespaces
if [ -e "$fleet" ]; then
    [ -e "$fleet/.fleet-journal" ] || fail "$fleet exists and is not this script's: remove it"
    rm -rf -- "$fleet"
fi
mkdir -p "$fleet/central" && touch "$fleet/.fleet-journal" || fail "cannot make $fleet"
made_dir=1
ip netns add "$central" || fail "ip netns add $central"
ip -n "$central" link set lo up
for x in "${hosts[@]}"; do
    ns=fwt-fleet-$x
    ip netns add "$ns" || fail "ip netns add $ns"
    ip link add "fwtfl-c$x" netns "$central" type veth peer name "fwtfl-$x" netns "$ns" || fail "veth c<->$x"
    ip -n "$central" addr add "${gw[$x]}/24" dev "fwtfl-c$x"
    ip -n "$ns" addr add "${addr[$x]}/24" dev "fwtfl-$x"
    ip -n "$central" link set "fwtfl-c$x" up
    ip -n "$ns" link set "fwtfl-$x" up
    ip -n "$ns" link set lo up
    cat > "$fleet/$x.nft" <<'EOF'
table inet fleet {
    chain input {
        type filter hook input priority filter; policy accept;
        udp dport 7001 counter drop
        udp dport 7002 counter accept
    }
}
EOF
    ip netns exec "$ns" nft -f "$fleet/$x.nft" || fail "nft -f in $ns"
done

# 2. The central journal-remote. Plain HTTP (no certificates in a test); split by the sender.
nsenter --net="/run/netns/$central" -- env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID \
    "$remote" --listen-http="$port" --output="$fleet/central/" --split-mode=host \
    </dev/null >"$fleet/journal-remote.log" 2>&1 &
rpid=$!
for _ in $(seq 50); do
    nsenter --net="/run/netns/$central" -- ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
    alive "$rpid" || break
    sleep 0.1
done
if ! nsenter --net="/run/netns/$central" -- ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    cat "$fleet/journal-remote.log" >&2
    fail "systemd-journal-remote does not listen on :$port in $central"
fi

start_upload() { # <host>
    local x=$1
    spawn_in_host_net "$x" env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID \
        "$upload" --url="http://${gw[$x]}:$port" -D /run/log/journal --save-state="$fleet/$x/upload.state" \
        </dev/null >>"$fleet/$x/upload.log" 2>&1 &
    upid[$x]=$!
}

# 3. The hosts.
for x in "${hosts[@]}"; do
    mkdir -p "$fleet/$x"
    # The holder makes the namespaces and keeps them; everything else enters them with nsenter.
    unshare --mount --uts --propagation slave -- /bin/bash -c '
        hostname "$1" || exit 1
        mount -t tmpfs -o mode=0755,size=64m fwt-fleet /run/systemd || exit 1
        mount -t tmpfs -o mode=0755,size=64m fwt-fleet /run/log || exit 1
        if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=2755,size=16m fwt-fleet /var/log/journal || exit 1; fi
        # The daemon run directory too: at its start the daemon repairs what /run/fwtrace
        # records of dead sessions, and on this machine those belong to other runs.
        if [ -d /run/fwtrace ]; then mount -t tmpfs -o mode=0755,size=1m fwt-fleet /run/fwtrace || exit 1; fi
        mkdir -p /run/systemd/journald.conf.d
        printf "%s\n" "[Journal]" Storage=volatile ReadKMsg=no ForwardToSyslog=no ForwardToKMsg=no \
            ForwardToConsole=no ForwardToWall=no RateLimitIntervalSec=0 \
            > /run/systemd/journald.conf.d/zzzz-fwtrace-private.conf
        touch "$2"
        exec sleep infinity' fleet-holder "fwt-host-$x" "$fleet/$x/holder.ready" \
        </dev/null >"$fleet/$x/holder.log" 2>&1 &
    holder[$x]=$!
    for _ in $(seq 50); do [ -e "$fleet/$x/holder.ready" ] && break; alive "${holder[$x]}" || break; sleep 0.1; done
    [ -e "$fleet/$x/holder.ready" ] || { cat "$fleet/$x/holder.log" >&2; fail "host $x: namespace setup failed"; }
    [ "$(in_host "$x" hostname)" = "fwt-host-$x" ] || fail "host $x: hostname not set"

    # journald: after the hostname is set (journald caches it for _HOSTNAME).
    spawn_in_host "$x" env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES \
        "$journald" </dev/null >"$fleet/$x/journald.log" 2>&1 &
    jpid[$x]=$!
    for _ in $(seq 50); do
        in_host "$x" test -S /run/systemd/journal/socket && break
        alive "${jpid[$x]}" || break
        sleep 0.1
    done
    in_host "$x" test -S /run/systemd/journal/socket || { cat "$fleet/$x/journald.log" >&2; fail "host $x: journald did not start"; }

    cat > "$fleet/$x/fwtrace.toml" <<EOF
[daemon]
socket = "$fleet/$x/ctl.sock"
socket_group = "root"

[[sink]]
name = "journal"
type = "journald"

[[watch]]
name = "fleet"
netns = "fwt-fleet-$x"
proto = "udp"
dport = "7001,7002"
sinks = ["journal"]
EOF
    spawn_in_host "$x" env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID -u JOURNAL_STREAM \
        "$binary" daemon --config "$fleet/$x/fwtrace.toml" </dev/null >"$fleet/$x/daemon.log" 2>&1 &
    dpid[$x]=$!
done
for x in "${hosts[@]}"; do
    # Ready, and the watch's session has started (its record is in the host's journal).
    deadline=$(( $(now_ms) + 20000 ))
    until in_host "$x" journalctl -D /run/log/journal -q -o cat FWTRACE_TYPE=session 2>/dev/null | grep -q '"event":"started"'; do
        if ! alive "${dpid[$x]}" || [ "$(now_ms)" -gt "$deadline" ]; then
            cat "$fleet/$x/daemon.log" >&2
            fail "host $x: the daemon's watch did not start"
        fi
        sleep 0.1
    done
    start_upload "$x"
done
echo "$prog: journal-remote, 2 hosts (journald, fwtrace daemon, journal-upload) running" >&2

send_udp() { # <host> <port> <count>
    local i
    for i in $(seq "$3"); do
        ip netns exec "$central" python3 "$send" udp "${addr[$1]}" "$2" >/dev/null || fail "send to $1"
        sleep 0.15
    done
}
# Waits until the central journal has at least N entries matching; 1 when it did not in time.
wait_central() { # <count> MATCH...
    local n=$1; shift
    local deadline=$(( $(now_ms) + wait_s * 1000 ))
    while [ "$(central_count "$@")" -lt "$n" ]; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "$prog: the central journal has $(central_count "$@") of $n entries $* after ${wait_s} s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# 4. Traffic, and the uploader's restart from its state file.
send_udp a 7001 2; send_udp a 7002 1
send_udp b 7001 5; send_udp b 7002 1
wait_central 3 FWTRACE_TYPE=path _HOSTNAME=fwt-host-a || status=1
wait_central 6 FWTRACE_TYPE=path _HOSTNAME=fwt-host-b || status=1
terminate "${upid[a]}"; upid[a]=
# The entry the state file names (the last one uploaded), for the results.
state_cursor=$(sed -n 's/^LAST_CURSOR=//p' "$fleet/a/upload.state" 2>/dev/null)
state_entry=
if [ -n "$state_cursor" ]; then
    state_entry=$(in_host a journalctl -D /run/log/journal -q -a -o json --cursor="$state_cursor" | head -n 1)
fi
echo "$prog: host a's uploader stopped; its state file names ${state_cursor:-nothing}" >&2
send_udp a 7001 1; send_udp a 7002 1
# Both in host a's journal before the uploader starts again.
deadline=$(( $(now_ms) + 10000 ))
until [ "$(in_host a journalctl -D /run/log/journal -q -o cat FWTRACE_TYPE=path | grep -c .)" -ge 5 ] || [ "$(now_ms)" -gt "$deadline" ]; do sleep 0.1; done
start_upload a
wait_central 5 FWTRACE_TYPE=path _HOSTNAME=fwt-host-a || status=1

# 5. Stop: the daemons first (their rules go; the "ended" records are uploaded), then the rest.
for x in "${hosts[@]}"; do terminate "${dpid[$x]}" 20; dpid[$x]=; done
for x in "${hosts[@]}"; do wait_central 2 FWTRACE_TYPE=session _HOSTNAME="fwt-host-$x" || status=1; done
sleep 0.5   # anything after the last expected entry (there should be none) gets its chance too
for x in "${hosts[@]}"; do terminate "${upid[$x]}"; upid[$x]=; done
terminate "$rpid"; rpid=
for x in "${hosts[@]}"; do
    if ip netns exec "fwt-fleet-$x" nft list tables 2>/dev/null | grep -v 'table inet fleet' | grep -q .; then
        echo "$prog: host $x: tables left after the daemon stopped: $(ip netns exec "fwt-fleet-$x" nft list tables | tr '\n' ' ')" >&2
        status=1
    fi
done
if [ "$status" != 0 ]; then
    for f in "$fleet"/journal-remote.log "$fleet"/?/daemon.log "$fleet"/?/upload.log "$fleet"/?/journald.log; do
        [ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
    done
fi

# 6. Results.
echo "# files: $(cd "$fleet/central" && ls | tr '\n' ' ' | sed 's/ $//')"
echo "# state-entry a: $state_entry"
for q in "FWTRACE_VERDICT=drop _HOSTNAME=fwt-host-a" "FWTRACE_VERDICT=drop _HOSTNAME=fwt-host-b" \
         "FWTRACE_VERDICT=accept _HOSTNAME=fwt-host-a" "FWTRACE_VERDICT=accept _HOSTNAME=fwt-host-b" \
         "FWTRACE_TYPE=session _HOSTNAME=fwt-host-a" "FWTRACE_TYPE=session _HOSTNAME=fwt-host-b" \
         "SYSLOG_IDENTIFIER=fwtrace"; do
    echo "# query: $q"
    # shellcheck disable=SC2086  # the match words
    central_query $q
done
exit "$status"
