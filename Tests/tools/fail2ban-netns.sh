#!/bin/bash
# The real fail2ban (Debian 12's fail2ban 1.0.2) server inside one network namespace, with a private
# /etc/fail2ban, socket, pidfile, database and log, and one jail with an iptables action: for the tests.
#
#   Tests/tools/fail2ban-netns.sh start  NS STATE_DIR [KEY=VALUE...]     fail2ban-server running in NS
#   Tests/tools/fail2ban-netns.sh cmd    NS STATE_DIR -- COMMAND [ARG...] COMMAND in NS, with its config and socket
#   Tests/tools/fail2ban-netns.sh status NS STATE_DIR                     exit 0 if it answers, 1 if not
#   Tests/tools/fail2ban-netns.sh stop   NS STATE_DIR                     stops it, removes what start made
#
# start: NS is made (ip netns add) if it does not exist, and then deleted by stop; a given NS must
# not be the host's. STATE_DIR must be absent, empty or an earlier STATE_DIR of this tool for NS, and
# not under /run or /etc. It makes /etc/netns/NS/fail2ban (a copy of /etc/fail2ban whose jail.d is
# emptied, with a fail2ban.local: logtarget STATE_DIR/fail2ban.log, dbfile STATE_DIR/fail2ban.sqlite3,
# socket and pidfile under /run/fail2ban, which is STATE_DIR/run/fail2ban; and a jail.local with one
# jail), starts fail2ban-server -f in NS and returns when `fail2ban-client ping` answers (20 s), printing
#   fail2ban-netns: running in NS (fail2ban 1.0.2, pid N, jail sshd: iptables-multiport on tcp 22,8080, 0.9 s)
# The jail, by KEY=VALUE: jail=sshd (its name), filter=sshd, port=22,8080, protocol=tcp,
# banaction=iptables-multiport (any of action.d: iptables-allports, nftables-multiport, ...),
# bantime=1h, maxretry=3; its log is STATE_DIR/auth.log (backend polling), empty: bans come from
# `cmd NS DIR -- fail2ban-client set sshd banip 10.77.0.2`.
# On failure it prints fail2ban's log, undoes everything and exits 1. Already running: exit 0.
# cmd: COMMAND in NS with /etc/fail2ban the private one and the private /run (fail2ban-client finds
# this server's socket by its configuration); exits with COMMAND's status.
# stop: `fail2ban-client stop` (each action's actionstop removes its chains and the jumps to them),
# SIGTERM then SIGKILL after 10 s if the server is still there (then its f2b-* chains are deleted
# in NS); deletes /etc/netns/NS/fail2ban (and /etc/netns/NS, /etc/netns when start made them), NS
# when start made it, and STATE_DIR. Not started: exit 0.
# Exit status: 0 ok, 1 failure, 2 bad usage.
#
# Isolation: the server runs under `ip netns exec NS` (its actions' iptables/ip6tables/nft calls
# reach NS only) in a mount namespace of its own where /etc/fail2ban is /etc/netns/NS/fail2ban and
# STATE_DIR/run is /run; it logs to STATE_DIR/fail2ban.log (never syslog), keeps its database in
# STATE_DIR and reads no host log. fail2ban.service never starts (make deps disables it).
set -u
prog=fail2ban-netns
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# shellcheck source=netns-tool-lib.sh
. "$(dirname -- "$(realpath -- "$0")")/netns-tool-lib.sh" || exit 1

[ $# -ge 3 ] || usage
action=$1
tool_init "$2" "$3"
shift 3
pidfile=$state/run/fail2ban/fail2ban.pid

client_ping() { in_ns fail2ban-client ping 2>/dev/null | grep -q pong; }

live_server() { # the server's pid if it is ours (a fail2ban-server naming our config)
    local p
    p=$(cat "$pidfile" 2>/dev/null) || return 0
    case "$p" in ""|*[!0-9]*) return 0 ;; esac
    alive "$p" || return 0
    tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null | grep -q 'fail2ban-server' || return 0
    [ "$(stat -L -c %i /proc/"$p"/ns/net 2>/dev/null)" = "$(cat "$state/ns.inode" 2>/dev/null)" ] && echo "$p"
}

f2b_chains_delete() {
    chains_delete 'f2b-' filter
    ip netns exec "$ns" nft list tables 2>/dev/null | grep -q '^table inet f2b-table$' &&
        ip netns exec "$ns" nft delete table inet f2b-table
}

do_stop() {
    local p killed=
    [ -f "$marker" ] || { [ -z "$(ls -A "$state" 2>/dev/null)" ] && rmdir "$state" 2>/dev/null; return 0; }
    p=$(live_server)
    [ -z "$p" ] && [ -n "${spawned:-}" ] && alive "$spawned" && p=$spawned
    if [ -n "$p" ]; then
        ns_same && in_ns fail2ban-client stop >/dev/null 2>&1
        for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
        alive "$p" && { terminate "$p" fail2ban-server || killed=1; }
    fi
    ns_same && [ -n "$killed" ] && f2b_chains_delete
    tool_undo
}

do_start() {
    local kv t0 ms jail=sshd filter=sshd port=22,8080 protocol=tcp banaction=iptables-multiport
    local bantime=1h maxretry=3 d=
    command -v fail2ban-server >/dev/null || die "fail2ban-server not found (make deps installs fail2ban)"
    for kv in "$@"; do
        case "$kv" in
            jail=*)      jail=${kv#*=} ;;
            filter=*)    filter=${kv#*=} ;;
            port=*)      port=${kv#*=} ;;
            protocol=*)  protocol=${kv#*=} ;;
            banaction=*) banaction=${kv#*=} ;;
            bantime=*)   bantime=${kv#*=} ;;
            maxretry=*)  maxretry=${kv#*=} ;;
            *) die "unknown KEY=VALUE: $kv" ;;
        esac
    done
    for kv in "$jail" "$filter" "$port" "$protocol" "$banaction" "$bantime" "$maxretry"; do
        case "$kv" in ""|*[!A-Za-z0-9_.,:-]*) die "bad jail setting: '$kv'" ;; esac
    done
    [ -f "/etc/fail2ban/action.d/$banaction.conf" ] || die "no action $banaction in /etc/fail2ban/action.d"
    [ -f "/etc/fail2ban/filter.d/$filter.conf" ] || die "no filter $filter in /etc/fail2ban/filter.d"
    if state_is_ours; then
        if ns_same && [ -n "$(live_server)" ] && client_ping; then
            echo "$prog: already running in $ns (pid $(live_server), dir $state)"
            return 0
        fi
        do_stop
    fi
    trap 'start_failed' EXIT
    trap 'exit 130' HUP INT TERM
    t0=$(now_ms)
    state_and_ns_setup
    etc_overlay fail2ban /etc/fail2ban
    d=/etc/netns/$ns/fail2ban
    rm -rf -- "${d:?}/jail.d" && mkdir "$d/jail.d" || exit 1
    rm -f -- "$d"/*.local "$d"/fail2ban.d/*.local "$d"/fail2ban.d/*.conf
    mkdir -p "$state/run/fail2ban" || exit 1
    : > "$state/auth.log"
    cat > "$d/fail2ban.local" <<EOF
# $prog: private server settings for namespace $ns
[Definition]
loglevel = INFO
logtarget = $state/fail2ban.log
syslogsocket = auto
socket = /run/fail2ban/fail2ban.sock
pidfile = /run/fail2ban/fail2ban.pid
dbfile = $state/fail2ban.sqlite3
EOF
    cat > "$d/jail.local" <<EOF
# $prog: the one jail of namespace $ns
[DEFAULT]
backend = polling
banaction = $banaction
banaction_allports = iptables-allports
ignoreself = true
ignoreip = 127.0.0.1/8 ::1

[$jail]
enabled = true
filter = $filter
port = $port
protocol = $protocol
logpath = $state/auth.log
bantime = $bantime
maxretry = $maxretry
EOF
    spawned=
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid ip netns exec "$ns" unshare --mount --propagation private -- /bin/sh -c '
                mount --bind "$1/run" /run || exit 1
                shift; exec "$@"' sh "$state" \
            env -i PATH=$SAFE_PATH LANG=C.UTF-8 HOME=/root \
            fail2ban-server -f -x -c /etc/fail2ban </dev/null >>"$state/server.out" 2>&1
    ) &
    spawned=$!
    for _ in $(seq 200); do
        alive "$spawned" || { echo "$prog: fail2ban-server exited during its start" >&2; exit 1; }
        [ -n "$(live_server)" ] && client_ping && break
        sleep 0.1
    done
    client_ping || { echo "$prog: fail2ban-client ping: no answer after 20 s" >&2; exit 1; }
    in_ns fail2ban-client status "$jail" >/dev/null 2>&1 || { echo "$prog: jail $jail is not up" >&2; exit 1; }
    trap - EXIT HUP INT TERM
    ms=$(( $(now_ms) - t0 ))
    printf '%s: running in %s (fail2ban %s, pid %s, jail %s: %s on %s %s, %d.%d s)\n' "$prog" "$ns" \
        "$(fail2ban-server -V 2>/dev/null | head -1)" "$(live_server)" "$jail" "$banaction" "$protocol" "$port" \
        $((ms / 1000)) $((ms % 1000 / 100))
}

start_failed() {
    trap - EXIT HUP INT TERM
    local f
    for f in server.out fail2ban.log; do
        [ -s "$state/$f" ] && { echo "---- $prog: $state/$f" >&2; tail -n 40 "$state/$f" >&2; }
    done
    do_stop
    exit 1
}

do_status() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] && ns_same && [ -n "$(live_server)" ] && client_ping
}

do_cmd() { in_ns "$@"; }

tool_main "$action" "$@"
