# shellcheck shell=bash
# shellcheck disable=SC2154  # prog: set by the harness that sources this
# Shared by the harnesses that run a real firewall manager inside one network namespace
# (ufw-netns.sh, fail2ban-netns.sh, podman-netns.sh, shorewall-netns.sh); sourced, never run.
# Before sourcing, a harness sets prog (its name), and after parsing its arguments calls
#   tool_init NS STATE_DIR
# which sets ns, state (absolute), marker (STATE_DIR/.PROG: holds NS; only a directory with it is
# ever removed) and made (STATE_DIR/made: one line per thing this harness made outside STATE_DIR:
# "netns NAME INODE", "etc NAME" for /etc/netns/NS/NAME, "etcns" for /etc/netns/NS itself,
# "etcroot" for /etc/netns). tool_undo removes exactly those, newest first, then STATE_DIR.
#
# What runs the tool: in_ns COMMAND... runs it under `ip netns exec NS` (which binds every entry
# /etc/netns/NS/X over /etc/X in a mount namespace of its own), then in a further private mount
# namespace where STATE_DIR/run is /run (lock and pid files, sockets), with PATH and LANG clean.

SAFE_PATH=/usr/sbin:/usr/bin:/sbin:/bin
TERM_WAIT=${TERM_WAIT:-10}

die() { echo "$prog: $*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

host_inode() { # PID 1's (where it can be read), else the caller's
    stat -L -c %i /proc/1/ns/net 2>/dev/null || stat -L -c %i /proc/self/ns/net
}
ns_inode() { [ -e "/run/netns/$ns" ] && stat -L -c %i "/run/netns/$ns"; }

# Is the process there (a zombie is not)?
alive() { # <pid>
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
}

# SIGTERM, SIGKILL after TERM_WAIT s; returns 1 if SIGKILL was needed.
terminate() { # <pid> <name>
    local p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq $((TERM_WAIT * 10))); do
        alive "$p" || return 0
        sleep 0.1
    done
    echo "$prog: $2 (pid $p) still running after ${TERM_WAIT} s: SIGKILL" >&2
    kill -KILL "$p" 2>/dev/null
    for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    return 1
}

tool_init() { # <ns> <state>
    ns=$1
    case "$ns" in ""|*/*|.|..|-*) usage ;; esac
    [ -n "$2" ] || usage
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, netfilter)"
    state=$(realpath -m -- "$2") || usage
    case "$state" in /|/run|/run/*|/var/run|/var/run/*|/etc|/etc/*) die "STATE_DIR must not be /, under /run or under /etc: $state" ;; esac
    marker=$state/.$prog
    made=$state/made
}

# The state directory is ours for NS? (exit 0), absent/empty (exit 1), or someone else's (dies).
state_is_ours() {
    if [ -f "$marker" ]; then
        [ "$(cat "$marker")" = "$ns" ] || die "$state is for namespace $(cat "$marker"), not $ns"
        return 0
    fi
    if [ -e "$state" ] && [ -n "$(ls -A "$state" 2>/dev/null)" ]; then
        die "$state exists and is not empty (nor a $prog state directory)"
    fi
    return 1
}

# Makes STATE_DIR (mode 700) with its marker, STATE_DIR/run, and the namespace if it does not exist
# (recorded: stop deletes it). Refuses the host's namespace.
state_and_ns_setup() {
    local nsi
    mkdir -p "$state" && chmod 700 "$state" || exit 1
    echo "$ns" > "$marker" && : >> "$made" || exit 1
    mkdir -p "$state/run" || exit 1
    if ! nsi=$(ns_inode); then
        ip netns add "$ns" || die "ip netns add $ns failed"
        nsi=$(ns_inode) || die "no /run/netns/$ns after ip netns add"
        echo "netns $ns $nsi" >> "$made"
    fi
    [ "$nsi" != "$(host_inode)" ] || die "$ns is the host's network namespace"
    echo "$nsi" > "$state/ns.inode"
    ip -n "$ns" link set lo up || exit 1
}

# /etc/netns/NS/<name>: a private copy of /etc/<name> (or an empty directory when the source is
# "-"), seen as /etc/<name> by everything in_ns runs. Refuses one that exists and is not ours.
etc_overlay() { # <name> <source|->
    local name=$1 src=$2 dir=/etc/netns/$ns
    case "$name" in ""|*/*|.|..) die "bad /etc entry: $name" ;; esac
    if [ ! -d /etc/netns ]; then
        mkdir -p /etc/netns && echo "etcroot" >> "$made" || exit 1
    fi
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir" && echo "etcns" >> "$made" || exit 1
    fi
    if [ -e "$dir/$name" ] || [ -L "$dir/$name" ]; then
        grep -qxF "etc $name" "$made" || die "$dir/$name exists and was not made by $prog for $state"
        return 0
    fi
    if [ "$src" = - ]; then
        mkdir "$dir/$name" || exit 1
    else
        cp -a -- "$src" "$dir/$name" || { rm -rf -- "${dir:?}/$name"; exit 1; }
    fi
    echo "etc $name" >> "$made"
}

# The namespace is still the one STATE_DIR was made for?
ns_same() { [ "$(ns_inode 2>/dev/null)" = "$(cat "$state/ns.inode" 2>/dev/null)" ]; }

# COMMAND in NS, with the /etc/netns/NS overlay and STATE_DIR/run as /run.
in_ns() {
    ip netns exec "$ns" unshare --mount --propagation private -- /bin/sh -c '
            mount --bind "$1/run" /run || exit 1
            shift; exec "$@"' sh "$state" \
        env -i PATH=$SAFE_PATH LANG=C.UTF-8 HOME=/root TERM=dumb "$@"
}

# Everything of "made", newest first, then STATE_DIR itself.
tool_undo() {
    local kind a b dir=/etc/netns/$ns
    [ -f "$marker" ] || return 0
    if [ -f "$made" ]; then
        tac "$made" | while read -r kind a b; do
            case "$kind" in
                etc)     case "$a" in ""|*/*|.|..) continue ;; esac
                         rm -rf -- "${dir:?}/$a" ;;
                etcns)   rmdir -- "$dir" 2>/dev/null || echo "$prog: $dir not empty: kept" >&2 ;;
                etcroot) rmdir /etc/netns 2>/dev/null ;;
                netns)   if [ "$(stat -L -c %i "/run/netns/$a" 2>/dev/null)" = "$b" ]; then
                             ip netns del "$a" || echo "$prog: ip netns del $a failed" >&2
                         fi ;;
            esac
        done
    fi
    rm -rf -- "$state"
}

# One start or stop at a time for a STATE_DIR: a lock on the directory itself.
lock_state() { exec 9<"$state" && flock 9; }

# Deletes in NS, for iptables and ip6tables and each TABLE, the chains whose names match the ERE
# PATTERN (a tool's own: ufw6?-, f2b-, NETAVARK) and every rule that jumps to one: rules by their
# number, never by re-reading a rule's text as shell words (a comment may hold anything).
chains_delete() { # <pattern> <table...>
    local pattern=$1 cmd t chain n own
    shift
    for cmd in iptables ip6tables; do
        for t in "$@"; do
            ip netns exec "$ns" "$cmd" -t "$t" -S >/dev/null 2>&1 || continue
            for chain in $(ip netns exec "$ns" "$cmd" -t "$t" -S 2>/dev/null | awk '$1 == "-P" || $1 == "-N" {print $2}'); do
                for n in $(ip netns exec "$ns" "$cmd" -t "$t" -L "$chain" -n --line-numbers 2>/dev/null |
                           awk -v p="^($pattern)" 'NR > 2 && $2 ~ p {print $1}' | sort -rn); do
                    ip netns exec "$ns" "$cmd" -t "$t" -D "$chain" "$n" 2>/dev/null
                done
            done
            own=$(ip netns exec "$ns" "$cmd" -t "$t" -S 2>/dev/null | awk -v p="^($pattern)" '$1 == "-N" && $2 ~ p {print $2}')
            for chain in $own; do ip netns exec "$ns" "$cmd" -t "$t" -F "$chain" 2>/dev/null; done
            for chain in $own; do ip netns exec "$ns" "$cmd" -t "$t" -X "$chain" 2>/dev/null; done
        done
    done
}

# The usual dispatch: start makes STATE_DIR if needed (removed again if start refuses before its
# own setup), stop/status/cmd need nothing more. The harness defines do_start, do_stop, do_status,
# do_cmd.
tool_main() { # <action> [args...]
    local action=$1
    shift
    case "$action" in
        start)  [ -d "$(dirname -- "$state")" ] || die "no directory $(dirname -- "$state")"
                made_state=
                [ -d "$state" ] || made_state=1
                mkdir -p "$state" && lock_state || die "cannot make or lock $state"
                trap '[ -z "$made_state" ] || [ -f "$marker" ] || rmdir -- "$state" 2>/dev/null' EXIT
                do_start "$@" ;;
        stop)   [ $# -eq 0 ] || usage
                [ -d "$state" ] || exit 0
                lock_state || die "cannot lock $state"
                do_stop ;;
        status) [ $# -eq 0 ] || usage
                if do_status; then echo "$prog: running in $ns"; else echo "$prog: not running in $ns"; exit 1; fi ;;
        cmd)    [ $# -ge 2 ] && [ "$1" = -- ] || usage
                shift
                [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] || die "not started for $ns in $state"
                ns_same || die "namespace $ns is gone or was made anew"
                do_cmd "$@" ;;
        *)      usage ;;
    esac
}
