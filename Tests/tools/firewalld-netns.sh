#!/bin/bash
# The real firewalld (Debian 12's firewalld 1.3, nftables backend) inside one network namespace,
# on a private D-Bus, with a private configuration: for the end-to-end tests.
#
#   Tests/tools/firewalld-netns.sh start  NS STATE_DIR [KEY=VALUE...]   firewalld running in NS, ready
#   Tests/tools/firewalld-netns.sh cmd    NS STATE_DIR -- COMMAND [ARG...]  COMMAND in NS, on its bus
#   Tests/tools/firewalld-netns.sh status NS STATE_DIR                  exit 0 if it runs, 1 if not
#   Tests/tools/firewalld-netns.sh stop   NS STATE_DIR                  stops it, removes STATE_DIR
#
# start: NS must exist (ip netns add) and must not be the host's namespace; STATE_DIR must be absent,
# empty or an earlier STATE_DIR of this tool (then it must be for NS), and not under /run. KEY=VALUE
# pairs replace lines of the private firewalld.conf (e.g. LogDenied=all, IPv6_rpfilter=no).
# It starts a dbus-daemon on STATE_DIR/bus.sock, then firewalld, both in NS, and returns when
# `firewall-cmd --state` says running (FIREWALLD_NETNS_TIMEOUT seconds, default 30), printing
#   firewalld-netns: running in NS (firewalld pid N, dbus-daemon pid M, bus unix:path=..., 2.1 s)
# On failure it prints firewalld's and the bus's output, stops both, removes STATE_DIR and exits 1.
# Already running for NS and STATE_DIR: says so, exit 0.
# cmd: runs COMMAND in NS with DBUS_SYSTEM_BUS_ADDRESS set to the private bus and /etc/firewalld
# replaced by the private one (so firewall-cmd and firewall-offline-cmd both reach this firewalld's
# configuration, never the host's); exits with COMMAND's status.
# stop: SIGTERM to firewalld (CleanupOnExit=yes: it removes its tables), SIGKILL after 10 s (then its
# tables are deleted in NS), then the same for dbus-daemon; removes STATE_DIR. Not running: exit 0.
# FIREWALLD_NETNS_DEBUG=N starts firewalld with --debug N (log in STATE_DIR/firewalld.log).
# Exit status: 0 ok, 1 failure, 2 bad usage.
#
# Isolation: nothing is written outside STATE_DIR, the namespace's own netfilter and
# /proc/sys/net, and the link below. firewalld gets --system-config STATE_DIR/etc, --default-config /usr/lib/firewalld,
# --nofork --nopid, --log-target file; it runs in a mount namespace of its own where STATE_DIR/run
# is /run (it makes /run/firewalld for the iptables-restore input it writes even with the nftables
# backend) and STATE_DIR/etc is /etc/firewalld; without CAP_SYS_MODULE (its modprobe of conntrack
# helpers fails, which it only logs); in a clean environment whose only bus is the private one (no
# host D-Bus, no NetworkManager, no polkit: firewalld then authorizes by uid, root only). Outside
# STATE_DIR only /etc/netns/NS/firewalld, a link to STATE_DIR/etc (and /etc/netns/NS, /etc/netns
# where they were not), so that what runs under `ip netns exec NS` sees firewalld's configuration
# as /etc/firewalld, as on a host; stop removes what start made.
# Inside NS, firewalld's start flushes every iptables-nft rule (the ip/ip6 filter, nat, mangle
# tables keep only their empty built-in chains, policy ACCEPT), and a masquerade or a forward-port
# with toaddr sets net.ipv4.ip_forward=1 (it stays after stop); iptables-legacy rules and other nft
# tables are left alone.
set -u
prog=firewalld-netns
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "$prog: $*" >&2; exit 1; }
TERM_WAIT=10   # seconds between SIGTERM and SIGKILL
SAFE_PATH=/usr/sbin:/usr/bin:/sbin:/bin

[ $# -ge 3 ] || usage
action=$1 ns=$2 state=$3
shift 3
case "$ns" in ""|*/*|.|..) usage ;; esac
case "$state" in "") usage ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables)"

# The namespace's inode; refuses a name bound to the host's namespace.
ns_inode() {
    [ -e "/run/netns/$ns" ] || return 1
    stat -L -c %i "/run/netns/$ns"
}
host_inode() { # PID 1's (where it can be read), else the caller's
    stat -L -c %i /proc/1/ns/net 2>/dev/null || stat -L -c %i /proc/self/ns/net
}

# The state directory as an absolute path (it may not exist yet).
state=$(realpath -m -- "$state") || usage
case "$state" in /|/run|/run/*|/var/run|/var/run/*) die "STATE_DIR must not be / or under /run: $state" ;; esac
marker=$state/.firewalld-netns   # holds NS: only a directory with it is ever removed

# Is the process there (a zombie is not)?
alive() { # <pid>
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
}

# pid from a pid file if that process is still ours: its name is one of <comms> and its command
# line names STATE_DIR. The pid file is written by a shell that then execs through setpriv and env
# to the daemon: stop accepts those names too, the checks for "running" only the daemon's.
live_pid() { # <pidfile> <comm|comm...>
    local p c
    p=$(cat "$1" 2>/dev/null) || return 0
    case "$p" in ""|*[!0-9]*) return 0 ;; esac
    alive "$p" || return 0
    c=$(cat /proc/"$p"/comm 2>/dev/null)
    case "|$2|" in *"|$c|"*) ;; *) return 0 ;; esac
    tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null | grep -qF -- "$state/" && echo "$p"
}

bus_addr="unix:path=$state/bus.sock"
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
fw_state() { # firewall-cmd --state on the private bus, in NS
    ip netns exec "$ns" env -i PATH=$SAFE_PATH LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$bus_addr" \
        firewall-cmd --state 2>/dev/null
}

# Runs a launcher in the background: its own session, stdin from /dev/null, output to a log, no
# descriptor of the caller beyond 0-2 (a Foundation Process watches its child through an inherited
# one and would wait as long as the daemon runs). The innermost shell writes its pid to <pidfile>
# and execs the daemon, so the pid is the daemon's whatever the launchers in between do.
spawn() { # <log> <command...>
    local log=$1
    shift
    (
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
}

# SIGTERM, SIGKILL after TERM_WAIT s; returns 1 if SIGKILL was needed.
terminate() { # <pid> <name>
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq $((TERM_WAIT * 10))); do
        alive "$p" || return 0
        sleep 0.1
    done
    echo "$prog: $2 (pid $p) still running after ${TERM_WAIT} s: SIGKILL" >&2
    kill -KILL "$p" 2>/dev/null
    for i in $(seq 50); do alive "$p" || break; sleep 0.1; done
    return 1
}

spawned_fw= spawned_bus=   # during a start: the launchers, our children (their pids stay ours)

do_stop() {
    local fw bus killed=
    [ -d "$state" ] || return 0
    if [ ! -f "$marker" ]; then
        # never ours (or already removed): nothing of this tool to stop
        [ -z "$(ls -A "$state" 2>/dev/null)" ] && rmdir "$state" 2>/dev/null
        return 0
    fi
    fw=$(live_pid "$state/firewalld.pid" "firewalld|env|setpriv|sh")
    bus=$(live_pid "$state/dbus.pid" "dbus-daemon|env|sh")
    # a start that failed or was interrupted before a pid file was written
    [ -z "$fw" ] && [ -n "$spawned_fw" ] && alive "$spawned_fw" && fw=$spawned_fw
    [ -z "$bus" ] && [ -n "$spawned_bus" ] && alive "$spawned_bus" && bus=$spawned_bus
    if [ -n "$fw" ]; then
        terminate "$fw" firewalld || killed=1
    fi
    if [ -n "$killed" ] && [ "$(ns_inode 2>/dev/null)" = "$(cat "$state/ns.inode" 2>/dev/null)" ]; then
        # firewalld had no chance to clean up: its tables, in NS only
        local t
        for t in "inet firewalld" "ip firewalld" "ip6 firewalld"; do
            ip netns exec "$ns" nft delete table $t 2>/dev/null
        done
    fi
    if [ -n "$bus" ]; then
        terminate "$bus" dbus-daemon
    fi
    etc_unlink
    rm -rf -- "$state"
}

# /etc/netns/NS/firewalld -> STATE_DIR/etc: what `ip netns exec NS` shows as /etc/firewalld, as
# on a host (fwtrace follow reads the zones there). Made only where nothing is; what was made is
# noted in STATE_DIR and removed by stop.
etc_link() {
    local dir=/etc/netns/$ns
    [ -e "$dir/firewalld" ] || [ -L "$dir/firewalld" ] && return 0
    [ -d /etc/netns ] || { mkdir /etc/netns && echo etcroot >> "$state/etc-made"; } || return 1
    [ -d "$dir" ] || { mkdir "$dir" && echo etcns >> "$state/etc-made"; } || return 1
    ln -s "$state/etc" "$dir/firewalld" && echo link >> "$state/etc-made"
}

etc_unlink() {
    local dir=/etc/netns/$ns
    [ -f "$state/etc-made" ] || return 0
    grep -qx link "$state/etc-made" && [ "$(readlink "$dir/firewalld")" = "$state/etc" ] && rm -f "$dir/firewalld"
    grep -qx etcns "$state/etc-made" && rmdir "$dir" 2>/dev/null
    grep -qx etcroot "$state/etc-made" && rmdir /etc/netns 2>/dev/null
    return 0
}

do_start() {
    local nsi conf_extra=("$@") kv key t0 i fw bus st=
    command -v firewalld >/dev/null || die "firewalld not found (make deps installs it)"
    command -v dbus-daemon >/dev/null || die "dbus-daemon not found (make deps installs it)"
    nsi=$(ns_inode) || die "no network namespace $ns (ip netns add $ns)"
    [ "$nsi" != "$(host_inode)" ] || die "$ns is the host's network namespace"
    for kv in "${conf_extra[@]}"; do
        case "$kv" in [A-Za-z]*=*) ;; *) die "not KEY=VALUE: $kv" ;; esac
        case "$kv" in *$'\n'*) die "not KEY=VALUE: $kv" ;; esac
    done

    if [ -f "$marker" ]; then
        [ "$(cat "$marker")" = "$ns" ] || die "$state is for namespace $(cat "$marker"), not $ns"
        if [ -n "$(live_pid "$state/firewalld.pid" firewalld)" ] && [ "$(fw_state)" = running ]; then
            echo "$prog: already running in $ns (firewalld pid $(live_pid "$state/firewalld.pid" firewalld), dir $state)"
            return 0
        fi
        do_stop   # a stale or half-started one: start afresh
    elif [ -e "$state" ] && [ -n "$(ls -A "$state" 2>/dev/null)" ]; then
        die "$state exists and is not empty (nor a $prog state directory)"
    fi

    # One firewalld per namespace: a second one would fight over the same tables.
    local p
    for p in $(pgrep -x firewalld); do
        [ "$(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null)" = "$nsi" ] && die "a firewalld already runs in $ns (pid $p)"
    done

    # From here on, anything that fails leaves nothing behind.
    trap 'start_failed' EXIT
    trap 'exit 130' HUP INT TERM
    t0=$(now_ms)
    mkdir -p "$state" && chmod 700 "$state" || exit 1
    echo "$ns" > "$marker" && echo "$nsi" > "$state/ns.inode" || exit 1
    mkdir -p "$state/etc"/{zones,services,icmptypes,ipsets,helpers,policies} "$state/run" "$state/dbus/system.d" || exit 1
    etc_link || exit 1

    # firewalld.conf: Debian's defaults, written out, then the caller's KEY=VALUE.
    {
        echo "# $prog: private firewalld.conf for namespace $ns"
        echo "DefaultZone=public"
        echo "CleanupOnExit=yes"
        echo "CleanupModulesOnExit=no"
        echo "Lockdown=no"
        echo "IPv6_rpfilter=yes"
        echo "IndividualCalls=no"
        echo "LogDenied=off"
        echo "AutomaticHelpers=no"
        echo "FirewallBackend=nftables"
        echo "FlushAllOnReload=yes"
        echo "RFC3964_IPv4=yes"
        echo "AllowZoneDrifting=no"
    } > "$state/etc/firewalld.conf"
    for kv in "${conf_extra[@]}"; do
        key=${kv%%=*}
        grep -v "^$key=" "$state/etc/firewalld.conf" > "$state/etc/firewalld.conf.new"
        echo "$kv" >> "$state/etc/firewalld.conf.new"
        mv "$state/etc/firewalld.conf.new" "$state/etc/firewalld.conf"
    done

    # The bus: the system bus's default policy (deny, but for the bus daemon itself, signals and
    # replies), only root may connect, and firewalld's own policy file from the package.
    cp /usr/share/dbus-1/system.d/FirewallD.conf "$state/dbus/system.d/" || exit 1
    cat > "$state/dbus/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$state/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny own="*"/>
  </policy>
  <includedir>$state/dbus/system.d</includedir>
</busconfig>
EOF
    spawn "$state/dbus.log" ip netns exec "$ns" /bin/sh -c 'echo $$ > "$1"; shift; exec "$@"' sh \
        "$state/dbus.pid" env -i PATH=$SAFE_PATH LANG=C.UTF-8 \
        dbus-daemon --nofork --nopidfile --nosyslog --config-file="$state/dbus/bus.conf"
    spawned_bus=$!
    for i in $(seq 50); do
        bus=$(live_pid "$state/dbus.pid" dbus-daemon)
        [ -n "$bus" ] && [ -S "$state/bus.sock" ] && \
            dbus-send --bus="$bus_addr" --dest=org.freedesktop.DBus --print-reply / \
                org.freedesktop.DBus.GetId >/dev/null 2>&1 && break
        bus=
        sleep 0.1
    done
    [ -n "$bus" ] || { echo "$prog: dbus-daemon did not answer on $bus_addr within 5 s" >&2; exit 1; }

    local debug=()
    [ -n "${FIREWALLD_NETNS_DEBUG:-}" ] && debug=(--debug "$FIREWALLD_NETNS_DEBUG")
    # ip netns exec, then a mount namespace of its own (private propagation: nothing reaches the
    # host's mounts) where /run and /etc/firewalld are STATE_DIR's; then without CAP_SYS_MODULE.
    spawn "$state/firewalld.out" ip netns exec "$ns" unshare --mount --propagation private -- /bin/sh -c '
            state=$1; shift
            mount --bind "$state/run" /run || exit 1
            if [ -d /etc/firewalld ]; then mount --bind "$state/etc" /etc/firewalld || exit 1; fi
            echo $$ > "$state/firewalld.pid"
            exec "$@"' sh "$state" \
        setpriv --bounding-set=-sys_module --inh-caps=-sys_module \
        env -i PATH=$SAFE_PATH LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$bus_addr" \
        firewalld --nofork --nopid --system-config "$state/etc" --default-config /usr/lib/firewalld \
            --log-target file --log-file "$state/firewalld.log" "${debug[@]}"
    spawned_fw=$!

    local timeout=${FIREWALLD_NETNS_TIMEOUT:-30} ms
    case "$timeout" in ""|*[!0-9]*) die "FIREWALLD_NETNS_TIMEOUT: whole seconds" ;; esac
    fw=
    while :; do
        alive "$spawned_fw" || { echo "$prog: firewalld exited during its start" >&2; exit 1; }
        fw=$(live_pid "$state/firewalld.pid" firewalld)
        if [ -n "$fw" ]; then
            st=$(fw_state)
            [ "$st" = running ] && break
        fi
        if [ $(( $(now_ms) - t0 )) -gt $(( timeout * 1000 )) ]; then
            echo "$prog: firewalld not running after $timeout s (firewall-cmd --state: ${st:-no answer})" >&2
            exit 1
        fi
        sleep 0.2
    done
    trap - EXIT HUP INT TERM
    ms=$(( $(now_ms) - t0 ))
    printf '%s: running in %s (firewalld pid %s, dbus-daemon pid %s, bus %s, %d.%d s)\n' "$prog" "$ns" \
        "$fw" "$bus" "$bus_addr" $((ms / 1000)) $((ms % 1000 / 100))
}

start_failed() {
    trap - EXIT HUP INT TERM
    local f
    for f in firewalld.out firewalld.log dbus.log; do
        [ -s "$state/$f" ] || continue
        echo "---- $prog: $state/$f" >&2
        tail -n 60 "$state/$f" >&2
    done
    do_stop
    exit 1
}

do_status() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] || return 1
    [ -n "$(live_pid "$state/firewalld.pid" firewalld)" ] || return 1
    [ "$(fw_state)" = running ]
}

do_cmd() {
    [ $# -ge 2 ] && [ "$1" = -- ] || usage
    shift
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] || die "not started for $ns in $state"
    [ -n "$(live_pid "$state/dbus.pid" dbus-daemon)" ] || die "its dbus-daemon is not running ($state)"
    [ "$(ns_inode 2>/dev/null)" = "$(cat "$state/ns.inode")" ] || die "namespace $ns is gone or was made anew"
    exec ip netns exec "$ns" unshare --mount --propagation private -- /bin/sh -c '
            if [ -d /etc/firewalld ]; then mount --bind "$1" /etc/firewalld || exit 1; fi
            shift; exec "$@"' sh "$state/etc" \
        env DBUS_SYSTEM_BUS_ADDRESS="$bus_addr" "$@"
}

# One start or stop at a time for a STATE_DIR: a lock on the directory itself (stop removes it;
# one who waited for the lock then finds it gone).
lock_state() { exec 9<"$state" && flock 9; }

case "$action" in
    start)  [ -d "$(dirname -- "$state")" ] || die "no directory $(dirname -- "$state")"
            made_state=
            [ -d "$state" ] || made_state=1
            mkdir -p "$state" && lock_state || die "cannot make or lock $state"
            # until do_start takes over: a refusal leaves no directory of ours behind
            trap '[ -z "$made_state" ] || rmdir -- "$state" 2>/dev/null' EXIT
            do_start "$@" ;;
    stop)   [ $# -eq 0 ] || usage
            [ -d "$state" ] || exit 0
            lock_state || die "cannot lock $state"
            do_stop ;;
    status) [ $# -eq 0 ] || usage
            if do_status; then echo "$prog: running in $ns"; else echo "$prog: not running in $ns"; exit 1; fi ;;
    cmd)    do_cmd "$@" ;;
    *)      usage ;;
esac
