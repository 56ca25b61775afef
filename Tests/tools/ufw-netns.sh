#!/bin/bash
# The real ufw (Debian 12's ufw 0.36.2, iptables backend: iptables-nft unless the alternative says
# legacy) inside one network namespace, with a private /etc/ufw and /etc/default: for the tests.
#
#   Tests/tools/ufw-netns.sh start  NS STATE_DIR [KEY=VALUE...]      ufw enabled in NS
#   Tests/tools/ufw-netns.sh cmd    NS STATE_DIR -- COMMAND [ARG...]  COMMAND in NS, with its /etc/ufw
#   Tests/tools/ufw-netns.sh status NS STATE_DIR                      exit 0 if enabled, 1 if not
#   Tests/tools/ufw-netns.sh stop   NS STATE_DIR                      disables it, removes what start made
#
# start: NS is made (ip netns add) if it does not exist, and then deleted by stop; a given NS must
# not be the host's. STATE_DIR must be absent, empty or an earlier STATE_DIR of this tool for NS, and
# not under /run or /etc. It makes /etc/netns/NS/ufw (ufw's files as the package ships them:
# /usr/share/ufw's templates, /etc/ufw's sysctl.conf, applications.d, before/after.init) and
# /etc/netns/NS/default (a copy of /etc/default), sets KEY=VALUE lines in that default/ufw (e.g.
# DEFAULT_FORWARD_POLICY=ACCEPT, IPV6=no), then runs `ufw --force enable` in NS and prints
#   ufw-netns: enabled in NS (ufw 0.36.2, iptables v1.8.9 (nf_tables), 0.9 s)
# On failure it prints ufw's output, undoes everything and exits 1. Already enabled: says so, exit 0.
# cmd: COMMAND in NS, with /etc/ufw and /etc/default the private ones (so `ufw allow ...`,
# `ufw status numbered`, `cat /etc/ufw/user.rules` reach this ufw only); exits with its status.
# stop: `ufw disable` in NS, then deletes the ufw-* chains left in NS (ufw keeps them, empty) and
# the rules of built-in chains that jump to them; then deletes /etc/netns/NS/{ufw,default} (and
# /etc/netns/NS, /etc/netns when start made them), NS when start made it, and STATE_DIR. Not
# started: exit 0.
# Exit status: 0 ok, 1 failure, 2 bad usage.
#
# Isolation: ufw runs only through `ip netns exec NS` (its iptables-restore and sysctl -p of
# /etc/ufw/sysctl.conf, all net.* keys, reach NS only), in a mount namespace of its own where
# /etc/ufw and /etc/default are the /etc/netns/NS copies and STATE_DIR/run is /run (its lock,
# /run/ufw.lock). IPT_MODULES is empty in Debian's default/ufw: no module is loaded. ufw.service is
# never started (make deps disables it); the host's /etc/ufw/ufw.conf stays ENABLED=no.
set -u
prog=ufw-netns
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# shellcheck source=netns-tool-lib.sh
. "$(dirname -- "$(realpath -- "$0")")/netns-tool-lib.sh" || exit 1

[ $# -ge 3 ] || usage
action=$1
tool_init "$2" "$3"
shift 3

ufw_enabled() {
    grep -qx 'ENABLED=yes' "/etc/netns/$ns/ufw/ufw.conf" 2>/dev/null || return 1
    in_ns ufw status 2>/dev/null | grep -qx 'Status: active'
}

# The ufw chains left in NS after `ufw disable`, and the built-in chains' jumps to them.
ufw_chains_delete() { chains_delete 'ufw6?-' filter nat mangle raw; }

do_stop() {
    [ -f "$marker" ] || { [ -z "$(ls -A "$state" 2>/dev/null)" ] && rmdir "$state" 2>/dev/null; return 0; }
    if ns_same && [ -d "/etc/netns/$ns/ufw" ] && grep -qxF "etc ufw" "$made"; then
        in_ns ufw disable >/dev/null 2>&1
        ufw_chains_delete
    fi
    tool_undo
}

do_start() {
    local kv key t0 ms out f
    command -v ufw >/dev/null || die "ufw not found (make deps installs it)"
    for kv in "$@"; do
        case "$kv" in [A-Z]*=*) ;; *) die "not KEY=VALUE: $kv" ;; esac
        case "$kv" in *$'\n'*) die "not KEY=VALUE: $kv" ;; esac
    done
    if state_is_ours; then
        if ns_same && ufw_enabled; then
            echo "$prog: already enabled in $ns (dir $state)"
            return 0
        fi
        do_stop
    fi
    trap 'start_failed' EXIT
    trap 'exit 130' HUP INT TERM
    t0=$(now_ms)
    state_and_ns_setup
    etc_overlay ufw /etc/ufw
    # the package's own templates (ucf keeps them in /usr/share/ufw), whatever the host's say
    for f in before.rules before6.rules after.rules after6.rules user.rules user6.rules ufw.conf before.init after.init; do
        [ -f "/usr/share/ufw/$f" ] && cp "/usr/share/ufw/$f" "/etc/netns/$ns/ufw/$f"
    done
    sed -i 's/^ENABLED=.*/ENABLED=no/' "/etc/netns/$ns/ufw/ufw.conf"
    etc_overlay default /etc/default
    for kv in "$@"; do
        key=${kv%%=*}
        grep -v "^$key=" "/etc/netns/$ns/default/ufw" > "$state/default-ufw.new"
        echo "$kv" >> "$state/default-ufw.new"
        cat "$state/default-ufw.new" > "/etc/netns/$ns/default/ufw" && rm -f "$state/default-ufw.new"
    done
    out=$(in_ns ufw --force enable 2>&1)
    echo "$out" > "$state/enable.log"
    ufw_enabled || { echo "$prog: ufw --force enable did not enable it" >&2; exit 1; }
    trap - EXIT HUP INT TERM
    ms=$(( $(now_ms) - t0 ))
    printf '%s: enabled in %s (ufw %s, %s, %d.%d s)\n' "$prog" "$ns" \
        "$(in_ns ufw version 2>/dev/null | sed -n '1s/^ufw //p')" "$(ip netns exec "$ns" iptables --version)" \
        $((ms / 1000)) $((ms % 1000 / 100))
}

start_failed() {
    trap - EXIT HUP INT TERM
    [ -s "$state/enable.log" ] && { echo "---- $prog: ufw --force enable said:" >&2; cat "$state/enable.log" >&2; }
    do_stop
    exit 1
}

do_status() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] && ns_same && ufw_enabled
}

do_cmd() { in_ns "$@"; }

tool_main "$action" "$@"
