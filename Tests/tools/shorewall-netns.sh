#!/bin/bash
# The real Shorewall (Debian 12's shorewall 5.2.8, iptables: iptables-nft unless the alternative
# says legacy) inside one network namespace, with a private /etc/shorewall and VARDIR: for the tests.
#
#   Tests/tools/shorewall-netns.sh start  NS STATE_DIR [KEY=VALUE...]      shorewall started in NS
#   Tests/tools/shorewall-netns.sh cmd    NS STATE_DIR -- COMMAND [ARG...]  COMMAND in NS, with its /etc/shorewall
#   Tests/tools/shorewall-netns.sh status NS STATE_DIR                      exit 0 if started, 1 if not
#   Tests/tools/shorewall-netns.sh stop   NS STATE_DIR                      shorewall clear, removes what start made
#
# start: NS is made (ip netns add) if it does not exist, and then deleted by stop; a given NS must
# not be the host's. STATE_DIR must be absent, empty or an earlier STATE_DIR of this tool for NS, and
# not under /run or /etc. It makes /etc/netns/NS/shorewall: Debian's /etc/shorewall (shorewall.conf
# with STARTUP_LOG and LOGFILE under STATE_DIR, IP_FORWARDING=Keep), a vardir file (VARDIR is
# STATE_DIR/var: the compiled script, its lock and state), and a minimal two-zone configuration:
#   zones       fw (firewall), net (ipv4)
#   interfaces  net IFACE (KEY iface=, default s0; it must exist in NS)
#   policy      $FW all ACCEPT; net all DROP; all all REJECT
#   rules       ACCEPT net:NET $FW tcp 8080 (KEY allow_net=, default 10.77.0.0/24); SSH(ACCEPT)
#               net $FW; Ping(ACCEPT) net $FW; REJECT net $FW tcp 23
# or, with KEY conf=DIR, the files of DIR instead of those four. KEY iptables=legacy sets
# IPTABLES=/usr/sbin/iptables-legacy in shorewall.conf (iptables=nft: iptables-nft; default: empty,
# Debian's, so the iptables of PATH, which the alternatives make iptables-nft on Debian 12; shorewall
# runs ${IPTABLES}-restore). Then `shorewall start` in NS (it
# compiles and runs STATE_DIR/var/firewall), printing
#   shorewall-netns: started in NS (shorewall 5.2.8, iptables v1.8.9 (nf_tables), 2.4 s)
# On failure it prints shorewall's output, undoes everything and exits 1. Already started: exit 0.
# cmd: COMMAND in NS with /etc/shorewall the private one (`shorewall show policies`, `shorewall
# status`, ...); exits with its status.
# stop: `shorewall clear` in NS (every table flushed, policies ACCEPT: shorewall's own way of
# leaving), then deletes /etc/netns/NS/shorewall (and /etc/netns/NS, /etc/netns when start made
# them), NS when start made it, and STATE_DIR. Not started: exit 0.
# Exit status: 0 ok, 1 failure, 2 bad usage.
#
# Isolation: shorewall and its compiled script run under `ip netns exec NS` (iptables-restore and
# the /proc/sys/net writes reach NS only), in a mount namespace where /etc/shorewall is the private
# copy and STATE_DIR/run is /run, without CAP_SYS_MODULE (its modprobe of helper modules fails,
# which it tolerates: no module is loaded on the host's behalf), logging to STATE_DIR.
# shorewall.service never starts (make deps disables it; /etc/default/shorewall says startup=0).
set -u
prog=shorewall-netns
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# shellcheck source=netns-tool-lib.sh
. "$(dirname -- "$(realpath -- "$0")")/netns-tool-lib.sh" || exit 1

[ $# -ge 3 ] || usage
action=$1
tool_init "$2" "$3"
shift 3

sw_ns() { in_ns setpriv --bounding-set=-sys_module --inh-caps=-sys_module "$@"; }
sw_started() {
    [ -f "$state/var/state" ] && grep -q '^Started' "$state/var/state" 2>/dev/null || return 1
    sw_ns shorewall status 2>/dev/null | grep -q 'State:Started'
}

do_stop() {
    [ -f "$marker" ] || { [ -z "$(ls -A "$state" 2>/dev/null)" ] && rmdir "$state" 2>/dev/null; return 0; }
    if ns_same && grep -qxF "etc shorewall" "$made" && [ -x "$state/var/firewall" ]; then
        sw_ns shorewall clear >> "$state/stop.log" 2>&1 || echo "$prog: shorewall clear failed (see $state/stop.log)" >&2
    fi
    tool_undo
}

write_config() { # <dir> <iface> <allow_net>
    local d=$1
    cat > "$d/zones" <<EOF
# $prog: two zones
#ZONE	TYPE
fw	firewall
net	ipv4
EOF
    cat > "$d/interfaces" <<EOF
# $prog
?FORMAT 2
#ZONE	INTERFACE	OPTIONS
net	$2	tcpflags,nosmurfs,routefilter=0,logmartians=0
EOF
    cat > "$d/policy" <<EOF
# $prog
#SOURCE	DEST	POLICY	LOGLEVEL
\$FW	all	ACCEPT
net	all	DROP
all	all	REJECT
EOF
    cat > "$d/rules" <<EOF
# $prog
?SECTION NEW
#ACTION		SOURCE		DEST	PROTO	DPORT
ACCEPT		net:$3	\$FW	tcp	8080
SSH(ACCEPT)	net		\$FW
Ping(ACCEPT)	net		\$FW
REJECT		net		\$FW	tcp	23
EOF
}

do_start() {
    local kv t0 ms d iface=s0 allow_net=10.77.0.0/24 conf='' f ipt=''
    command -v shorewall >/dev/null || die "shorewall not found (make deps installs it)"
    for kv in "$@"; do
        case "$kv" in
            iface=*)     iface=${kv#*=} ;;
            allow_net=*) allow_net=${kv#*=} ;;
            conf=*)      conf=$(realpath -- "${kv#*=}") && [ -d "$conf" ] || die "conf: no directory ${kv#*=}" ;;
            iptables=legacy) ipt=/usr/sbin/iptables-legacy ;;
            iptables=nft)    ipt=/usr/sbin/iptables-nft ;;
            *) die "unknown KEY=VALUE: $kv" ;;
        esac
    done
    case "$iface$allow_net" in *[!A-Za-z0-9_.:/+-]*) die "bad iface or allow_net" ;; esac
    if state_is_ours; then
        if ns_same && sw_started; then echo "$prog: already started in $ns (dir $state)"; return 0; fi
        do_stop
    fi
    trap 'start_failed' EXIT
    trap 'exit 130' HUP INT TERM
    t0=$(now_ms)
    state_and_ns_setup
    [ -n "$conf" ] || ip -n "$ns" link show "$iface" >/dev/null 2>&1 || die "no interface $iface in $ns (iface=...)"
    mkdir -p "$state/var" || exit 1
    etc_overlay shorewall /etc/shorewall
    d=/etc/netns/$ns/shorewall
    sed -i -e "s|^STARTUP_LOG=.*|STARTUP_LOG=$state/shorewall-init.log|" \
           -e "s|^LOGFILE=.*|LOGFILE=$state/messages|" \
           -e "s|^IP_FORWARDING=.*|IP_FORWARDING=Keep|" "$d/shorewall.conf" || exit 1
    [ -z "$ipt" ] || sed -i "s|^IPTABLES=.*|IPTABLES=$ipt|" "$d/shorewall.conf" || exit 1
    echo "VARDIR=$state/var" > "$d/vardir"
    : > "$state/messages"   # shorewall show ... wants LOGFILE to exist
    if [ -n "$conf" ]; then
        for f in "$conf"/*; do [ -f "$f" ] && cp -- "$f" "$d/"; done
    else
        write_config "$d" "$iface" "$allow_net"
    fi
    sw_ns shorewall start > "$state/start.log" 2>&1 || { echo "$prog: shorewall start failed" >&2; exit 1; }
    sw_started || { echo "$prog: shorewall status does not say Started" >&2; exit 1; }
    trap - EXIT HUP INT TERM
    ms=$(( $(now_ms) - t0 ))
    printf '%s: started in %s (shorewall %s, %s, %d.%d s)\n' "$prog" "$ns" \
        "$(sw_ns shorewall version 2>/dev/null | head -1)" "$(ip netns exec "$ns" "${ipt:-iptables}" --version)" \
        $((ms / 1000)) $((ms % 1000 / 100))
}

start_failed() {
    trap - EXIT HUP INT TERM
    [ -s "$state/start.log" ] && { echo "---- $prog: shorewall start said:" >&2; tail -n 40 "$state/start.log" >&2; }
    do_stop
    exit 1
}

do_status() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] && ns_same && sw_started
}

do_cmd() { sw_ns "$@"; }

tool_main "$action" "$@"
