#!/usr/bin/env bash
# Captures the decoder's byte fixtures from the running kernel: builds a lab in its own network
# namespaces (fwt-cap-*), runs `fwtrace follow --capture` for each scenario, and stores the raw
# netlink datagrams plus the ruleset they refer to under Tests/FWTraceCoreTests/Fixtures, named
# kernel-<release>-<scenario>. Deletes the namespaces it made, and only those.
#   sudo Tests/tools/capture-fixtures.sh [path/to/fwtrace]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fwtrace=${1:-$root/.build/debug/fwtrace}
out=$root/Tests/FWTraceCoreTests/Fixtures
kernel=$(uname -r | cut -d. -f1,2)
cli=fwt-cap-cli srv=fwt-cap-srv
send() { ip netns exec $cli /usr/bin/python3 "$here/send.py" "$@"; }
cleanup() { ip netns del $cli 2>/dev/null || true; ip netns del $srv 2>/dev/null || true; [ -n "${listener:-}" ] && kill "$listener" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
mkdir -p "$out"

ip netns add $cli; ip netns add $srv
ip link add fwtcap0 netns $cli type veth peer name fwtcap1 netns $srv
ip -n $cli addr add 10.99.0.1/24 dev fwtcap0; ip -n $cli addr add 10.99.0.66/24 dev fwtcap0
ip -n $srv addr add 10.99.0.2/24 dev fwtcap1
ip -n $cli addr add fd99::1/64 dev fwtcap0 nodad; ip -n $srv addr add fd99::2/64 dev fwtcap1 nodad
for ns in $cli $srv; do ip -n $ns link set lo up; done
ip -n $cli link set fwtcap0 up; ip -n $srv link set fwtcap1 up

s() { ip netns exec $srv "$@"; }
s iptables-nft -N fail2ban-SSH
s iptables-nft -A fail2ban-SSH -s 10.99.0.66 -j REJECT --reject-with icmp-port-unreachable
s iptables-nft -A fail2ban-SSH -s 10.99.0.67 -j REJECT --reject-with icmp-port-unreachable
s iptables-nft -A INPUT -p tcp -m tcp --dport 22 -j fail2ban-SSH
s iptables-nft -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
s iptables-nft -A INPUT -i lo -j ACCEPT
for p in 22 80 443; do s iptables-nft -A INPUT -p tcp -m state --state NEW -m tcp --dport $p -j ACCEPT; done
s iptables-nft -A INPUT -j REJECT --reject-with icmp-host-prohibited
s iptables-nft -A INPUT -p tcp --dport 8080 -j ACCEPT
s iptables-nft -A FORWARD -j REJECT --reject-with icmp-host-prohibited
s iptables-nft -t nat -A PREROUTING -p tcp --dport 8081 -j DNAT --to-destination 10.99.0.2:80
s ip6tables-nft -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
s ip6tables-nft -A INPUT -p ipv6-icmp -j ACCEPT
s ip6tables-nft -A INPUT -p tcp --dport 80 -j ACCEPT
s ip6tables-nft -A INPUT -p udp --dport 5353 -j ACCEPT
s ip6tables-nft -A INPUT -j REJECT
ip netns exec $srv "$fwtrace" lab listen --port 22 --port 80 --port 8080 > /dev/null &
listener=$!
sleep 0.5

capture() {  # name count filter... -- traffic command...
  local name=$1 count=$2; shift 2
  local filter=() ; while [ "$1" != "--" ]; do filter+=("$1"); shift; done; shift
  local base=$out/kernel-$kernel-$name
  s "$fwtrace" follow "${filter[@]}" --count "$count" --timeout 5s --format json --capture "$base.hex" > "$base.jsonl" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do grep -q '"started"' "$base.jsonl" 2>/dev/null && break; sleep 0.1; done
  "$@" > /dev/null || true
  wait $pid || true
  s nft -a -y list ruleset > "$base.nft.txt" 2>/dev/null
  s iptables-nft-save > "$base.iptables-save.txt" 2>/dev/null
  s ip6tables-nft-save > "$base.ip6tables-save.txt" 2>/dev/null
  echo "captured $name: $(grep -vc '^#' "$base.hex") datagrams, $(grep -c '"type":"path"' "$base.jsonl") paths"
}

capture v4-tcp-reject-input-rule7 1 --dport 8080 -- send tcp 10.99.0.2 8080
capture v4-tcp-accept-rule5-established 4 -p tcp --dport 80 -- send tcp 10.99.0.2 80
capture v4-tcp-jump-reject-fail2ban 1 --dport 22 -s 10.99.0.66 -- send tcp 10.99.0.2 22 --src 10.99.0.66
capture v4-tcp-jump-return-accept 1 --dport 22 -s 10.99.0.1 -- send tcp 10.99.0.2 22 --src 10.99.0.1
capture v4-tcp-dnat 1 --dport 8081 -- send tcp 10.99.0.2 8081
capture v4-udp-reject 1 -p udp --dport 9999 -- send udp 10.99.0.2 9999
capture v4-icmp-echo-reject 1 -p icmp -- send icmp4 10.99.0.2
capture v6-tcp-accept 1 -6 -p tcp --dport 80 -- send tcp fd99::2 80
capture v6-icmpv6-echo-accept 1 -p icmpv6 -d fd99::2 -- send icmp6 fd99::2
capture v6-udp-hopopts-accept 1 -6 -p udp --dport 5353 -- send udp fd99::2 5353 --hopopts

# A native nft ruleset: a set of allowed ports, a user chain entered with goto that returns
# explicitly, and a final drop.
s iptables-nft -F; s iptables-nft -X; s iptables-nft -t nat -F; s ip6tables-nft -F
s nft -f - <<'NFT'
table inet web {
  set allowed { type inet_service; elements = { 22, 80 }; }
  chain checks { ip saddr 10.99.0.66 drop; return; }
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    tcp dport 22 jump checks
    tcp dport @allowed counter accept
    udp dport 7777 goto checks
    counter drop
  }
}
NFT
capture nft-native-set-accept 1 -p tcp --dport 80 -- send tcp 10.99.0.2 80
capture nft-native-drop 1 -p tcp --dport 8080 -- send tcp 10.99.0.2 8080
capture nft-native-jump-explicit-return 1 -p tcp --dport 22 -s 10.99.0.1 -- send tcp 10.99.0.2 22 --src 10.99.0.1
capture nft-native-goto-return-policy 1 -p udp --dport 7777 -- send udp 10.99.0.2 7777
