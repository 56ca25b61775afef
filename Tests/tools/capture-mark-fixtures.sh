#!/usr/bin/env bash
# Captures the packet-mark fixtures from the running kernel, on both backends: a lab in its own
# network namespaces (fwt-capm-*, the layout of capture-fixtures.sh: ifindex 2 is the server's
# veth fwtcap1), a ruleset that sets a mark on a connection's first packet, saves it in the
# conntrack entry and restores it on the later packets, and `fwtrace follow --capture` of one TCP
# connection to port 80. Writes Tests/FWTraceCoreTests/Fixtures/kernel-<release>-{nft-native-mark-ct-restore,
# legacy-v4-mark-connmark-restore}.* and no other fixture. Deletes the namespaces it made, and only those.
#   sudo Tests/tools/capture-mark-fixtures.sh [path/to/fwtrace]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fwtrace=${1:-$root/.build/debug/fwtrace}
out=$root/Tests/FWTraceCoreTests/Fixtures
kernel=$(uname -r | cut -d. -f1,2)
cli=fwt-capm-cli srv=fwt-capm-srv
cleanup() { ip netns del $cli 2>/dev/null || true; ip netns del $srv 2>/dev/null || true; if [ -n "${listener:-}" ]; then kill "$listener" 2>/dev/null || true; fi; }
trap cleanup EXIT
cleanup

ip netns add $cli; ip netns add $srv
ip link add fwtcap0 netns $cli type veth peer name fwtcap1 netns $srv
ip -n $cli addr add 10.99.0.1/24 dev fwtcap0; ip -n $srv addr add 10.99.0.2/24 dev fwtcap1
for ns in $cli $srv; do ip -n $ns link set lo up; done
ip -n $cli link set fwtcap0 up; ip -n $srv link set fwtcap1 up
s() { ip netns exec $srv "$@"; }
ip netns exec $srv "$fwtrace" lab listen --port 80 > /dev/null &   # not through s(): $! must be the listener
listener=$!
sleep 0.5

capture() {  # name backend description
  local name=$1 backend=$2 description=$3
  local base=$out/kernel-$kernel-$name
  s "$fwtrace" follow --backend "$backend" -p tcp --dport 80 --count 3 --timeout 5s --format json --capture "$base.hex" > "$base.jsonl" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do grep -q '"started"' "$base.jsonl" 2>/dev/null && break; sleep 0.1; done
  ip netns exec $cli /usr/bin/python3 "$here/send.py" tcp 10.99.0.2 80 > /dev/null || true
  wait $pid || true
  # The scenario under the writer's header line (comment lines are skipped by CaptureFormat).
  sed -i "1a # $description" "$base.hex"
  echo "captured $name: $(grep -vc '^#' "$base.hex") datagrams, $(grep -c '"type":"path"' "$base.jsonl") paths"
}

s nft -f - <<'NFT'
table ip marks {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    ct state new tcp dport 80 meta mark set 0x10
    ct state new ct mark set meta mark
    ct state established meta mark set ct mark
  }
  chain in {
    type filter hook input priority filter; policy accept;
    meta mark != 0x10 tcp dport 80 counter drop
  }
}
NFT
capture nft-native-mark-ct-restore nft "table ip marks: a SYN to :80 gets meta mark 0x10 and ct mark set meta mark in prerouting, the later packets meta mark set ct mark; input drops port 80 without the mark (its policy accepts)"
s nft -a -y list ruleset > "$out/kernel-$kernel-nft-native-mark-ct-restore.nft.txt"
s nft delete table ip marks

m() { s iptables-legacy -t mangle "$@"; }
m -A PREROUTING -p tcp --dport 80 -m conntrack --ctstate NEW -j MARK --set-mark 0x10
m -A PREROUTING -m conntrack --ctstate NEW -j CONNMARK --save-mark
m -A PREROUTING -m conntrack --ctstate ESTABLISHED -j CONNMARK --restore-mark
s iptables-legacy -A INPUT -p tcp --dport 80 -m mark ! --mark 0x10 -j DROP
capture legacy-v4-mark-connmark-restore legacy "iptables-legacy TRACE: a SYN to :80 gets -j MARK --set-mark 0x10 and CONNMARK --save-mark in mangle PREROUTING, the later packets CONNMARK --restore-mark; filter INPUT drops port 80 without the mark"
s iptables-legacy-save -c > "$out/kernel-$kernel-legacy-v4-mark-connmark-restore.iptables-save.txt"
