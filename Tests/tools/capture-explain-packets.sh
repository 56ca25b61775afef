#!/bin/bash
# More packets for ExplainAgainstFollowTests: the rulesets of Fixtures/owners loaded as data into a
# lab like the one they were captured in, and packets of other kinds than the fixtures' TCP SYNs
# (UDP, ICMP echo, ICMPv6 echo, a SYN+FIN, a lone ACK, other ports and sources) traced through them.
#
#   sudo Tests/tools/capture-explain-packets.sh [TOOL...]     (default: ufw shorewall fail2ban firewalld fail2ban-nftables)
#
# For each tool: namespaces fwt-exp-<tool>-s and fwt-exp-<tool>-c joined by veth o0 (10.77.0.1/24,
# fd77::1/64) / c0 (10.77.0.2/24, 10.77.0.9/24, fd77::2/64, fd77::9/64), as capture-owner-fixtures.sh
# makes them; the tool's ruleset restored in -s (iptables-nft-restore and ip6tables-nft-restore of
# its save files, or, for the native nft tools firewalld and fail2ban-nftables, `nft -f` of its
# listing); then into Fixtures/owners/<tool>/explain/: the ruleset as the namespace then holds it
# (ruleset.nft.txt, ruleset.json, iptables-nft-save.txt, ip6tables-nft-save.txt: handles differ from
# the tool's), README.md, and trace-<name>.hex/.jsonl for each packet (`fwtrace follow --capture`).
# The tool itself does not run: its lists (recent) start empty. Tracing takes /tmp/fwtrace-e2e.lock.
# Everything made is removed at the end (trap). Exit 0 when every packet was traced.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fwtrace=$root/.build/debug/fwtrace
[ "$(id -u)" = 0 ] || { echo "capture-explain-packets: needs root" >&2; exit 1; }
[ -x "$fwtrace" ] || { echo "capture-explain-packets: no fwtrace at $fwtrace" >&2; exit 1; }
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(ufw shorewall fail2ban firewalld fail2ban-nftables)
work=$(mktemp -d /tmp/fwt-exp.XXXXXX) || exit 1
S="" C=""
cleanup() {
    [ -n "$S" ] && ip netns del "$S" 2>/dev/null
    [ -n "$C" ] && ip netns del "$C" 2>/dev/null
    S="" C=""
}
trap 'cleanup; rm -rf "$work"' EXIT
exec 9> /tmp/fwtrace-e2e.lock
flock 9
failed=0

lab() { # <tool>
    S=fwt-exp-$1-s C=fwt-exp-$1-c
    ip netns add "$S" && ip netns add "$C" || return 1
    ip link add o0 netns "$S" type veth peer name c0 netns "$C" || return 1
    ip -n "$S" link set lo up; ip -n "$C" link set lo up
    ip -n "$S" addr add 10.77.0.1/24 dev o0; ip -n "$S" addr add fd77::1/64 dev o0 nodad
    for a in 10.77.0.2/24 10.77.0.9/24; do ip -n "$C" addr add "$a" dev c0; done
    for a in fd77::2/64 fd77::9/64; do ip -n "$C" addr add "$a" dev c0 nodad; done
    ip -n "$S" link set o0 up; ip -n "$C" link set c0 up
}

load() { # <tool> <fixture dir>
    case "$1" in
        firewalld|fail2ban-nftables) sed 's/ # handle [0-9]*$//' "$2/ruleset.nft.txt" | ip netns exec "$S" nft -f - ;;
        *) ip netns exec "$S" iptables-nft-restore < "$2/iptables-nft-save.txt" &&
           ip netns exec "$S" ip6tables-nft-restore < "$2/ip6tables-nft-save.txt" ;;
    esac
}

trace() { # <dir> <name> <follow filter...> -- <send args...>
    local d=$1 name=$2 f=()
    shift 2
    while [ "$1" != -- ]; do f+=("$1"); shift; done
    shift
    ip netns exec "$S" "$fwtrace" follow "${f[@]}" --count 1 --timeout 5s --format json \
        --capture "$d/trace-$name.hex" > "$d/trace-$name.jsonl" 2> "$work/follow.err" &
    local pid=$!
    for _ in $(seq 50); do grep -q '"started"' "$d/trace-$name.jsonl" 2>/dev/null && break; sleep 0.1; done
    ip netns exec "$C" python3 "$here/send.py" "$@" > "$work/send.out" 2>&1
    wait "$pid"
    local rc=$?
    echo "| \`$name\` | \`follow ${f[*]}\` | \`$*\` |" >> "$d/README.md"
    if [ "$rc" != 0 ] || ! grep -q '"type":"path"' "$d/trace-$name.jsonl"; then
        echo "  $name: not traced (follow exit $rc): $(cat "$work/follow.err")" >&2
        rm -f "$d/trace-$name.hex" "$d/trace-$name.jsonl"
        failed=1
    fi
}

for tool in "${tools[@]}"; do
    src=$root/Tests/FWTraceCoreTests/Fixtures/owners/$tool
    d=$src/explain
    echo "$tool"
    rm -rf "$d"; mkdir -p "$d"
    lab "$tool" && load "$tool" "$src" || { echo "  $tool: lab or ruleset failed" >&2; failed=1; cleanup; continue; }
    ip netns exec "$S" nft -a list ruleset > "$d/ruleset.nft.txt"
    ip netns exec "$S" nft -j list ruleset | python3 -m json.tool > "$d/ruleset.json"
    ip netns exec "$S" iptables-nft-save | sed '/^#/d' > "$d/iptables-nft-save.txt"
    ip netns exec "$S" ip6tables-nft-save | sed '/^#/d' > "$d/ip6tables-nft-save.txt"
    cat > "$d/README.md" <<EOF
# $tool: more packets for ExplainAgainstFollowTests

Made by \`Tests/tools/capture-explain-packets.sh $tool\` on kernel $(uname -r), $(date -u +%F): the
ruleset of \`..\` (written by $tool itself) restored as data into the lab below, the tool not
running (its recent lists start empty), then one packet of each kind traced.

The lab: namespace \`$S\` (the tool's) with \`o0\` 10.77.0.1/24, fd77::1/64; client \`$C\` with \`c0\` 10.77.0.2/24, 10.77.0.9/24, fd77::2/64, fd77::9/64.

| name | follow in $S | client (send.py) |
|---|---|---|
EOF
    trace "$d" v4-udp-53 -p udp --dport 53 -- udp 10.77.0.1 53
    trace "$d" v4-udp-5353 -p udp --dport 5353 -- udp 10.77.0.1 5353
    trace "$d" v4-icmp-echo -p icmp -- icmp4 10.77.0.1
    trace "$d" v6-icmpv6-echo -p icmpv6 -- icmp6 fd77::1
    trace "$d" v4-tcp-synfin-22 -p tcp --dport 22 -- tcpsynfin 10.77.0.1 22 --src 10.77.0.2
    trace "$d" v4-tcp-ack-80 -p tcp --dport 80 -- tcpack 10.77.0.1 80 --src 10.77.0.2
    trace "$d" v4-tcp-443-from-9 -p tcp --dport 443 -s 10.77.0.9 -- tcp 10.77.0.1 443 --src 10.77.0.9
    trace "$d" v4-tcp-8443 -p tcp --dport 8443 -- tcp 10.77.0.1 8443 --src 10.77.0.2
    trace "$d" v6-tcp-22 -p tcp --dport 22 -6 -- tcp fd77::1 22
    trace "$d" v6-udp-53 -p udp --dport 53 -6 -- udp fd77::1 53
    cleanup
done
exit $failed
