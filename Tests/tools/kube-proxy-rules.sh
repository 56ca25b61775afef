#!/bin/bash
# kube-proxy's iptables rules, as data: in network namespace NS, what the iptables proxier of
# Kubernetes v1.28.0 (pkg/proxy/iptables/proxier.go) does on its first full sync, for an IPv4
# single-stack node with kube-proxy's defaults (masqueradeBit 14, localhostNodePorts true,
# nodePortAddresses empty, --detect-local-mode ClusterCIDR with --cluster-cidr CLUSTER_CIDR,
# iptables that supports --random-fully) and two services:
#   default/web:http    ClusterIP 10.96.0.10:80/TCP, NodePort 30080, one endpoint 10.244.0.5:8080
#   default/empty:http  ClusterIP 10.96.0.11:80/TCP, NodePort 30081, no endpoints (its REJECTs)
# both with the Cluster traffic policies and no session affinity. kube-proxy is not packaged for
# Debian 12 (issue 14); this replays what its code writes.
#
#   Tests/tools/kube-proxy-rules.sh NS [CLUSTER_CIDR]      (default 10.244.0.0/16)
#
# Source followed: Kubernetes v1.28.0, pkg/proxy/iptables/proxier.go (read from a copy of the
# v1.28.0 tree: github.com/kevinhehc/k8s-1.28 at ffd718aff23d12abfff754effa4eb54979a9eab3, its
# import commit; CHANGELOG-1.28.md's newest entry there is v1.28.0), with pkg/util/iptables/
# iptables.go (EnsureChain `-N CHAIN -t TABLE`, EnsureRule: a -C probe then `-I CHAIN -t TABLE
# ARGS`, the wait flags `-w 5 -W 100000`, RestoreAll `iptables-restore -w 5 -W 100000 --noflush
# --counters`, Monitor's canary chains) and pkg/proxy/util/iptables/traffic.go (IfNotLocal
# `! -s CIDR`). In syncProxyRules, in order: the jump rules of iptablesJumpChains and
# iptablesKubeletJumpChains (each EnsureChain then EnsureRule Prepend), then one iptables-restore
# of *filter and *nat: the top-level chain lines, KUBE-POSTROUTING and KUBE-MARK-MASQ, KUBE-FIREWALL's
# localnet rule, per service the cluster-IP and node-port rules (REJECT "... has no endpoints" in
# filter KUBE-SERVICES / KUBE-EXTERNAL-SERVICES when it has none; else KUBE-SVC-, KUBE-EXT-,
# KUBE-SEP- chains in nat), the final KUBE-SERVICES -> KUBE-NODEPORTS rule, KUBE-FORWARD's three.
# Chain names are computed as the code does: KUBE-SVC-/KUBE-EXT- + base32(sha256(
# "ns/name:port" + "tcp"))[:16], KUBE-SEP- + base32(sha256("ns/name:port" + "tcp" + "IP:PORT"))[:16].
# The services are written web first, then empty (the code walks a Go map: any order).
# Monitor's canary chains (KUBE-PROXY-CANARY in mangle, nat, filter) are made first here; in
# kube-proxy a goroutine started by NewProxier makes them, concurrently with the first sync.
# Not replayed: the sysctls outside the namespace (nf_conntrack_max), the IPv6 proxier, the
# probes (-C) before each -I (all fail on a fresh ruleset; printed as comments).
#
# NS must exist and must not be the host's namespace. It sets net.ipv4.conf.all.route_localnet=1
# in NS (NewProxier does, for localhost node ports), runs each command printed first with "+ ",
# and prints the iptables-restore input between "--- iptables-restore input" and "--- end".
# Exit status: 0 ok, 1 a command failed, 2 bad usage.
set -u
prog=kube-proxy-rules
usage() { sed -n '12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
ns=$1 cidr=${2:-10.244.0.0/16}
case "$ns" in ""|*/*|.|..|-*) usage ;; esac
case "$cidr" in *[!0-9./]*|"") usage ;; esac
[ "$(id -u)" = 0 ] || { echo "$prog: needs root" >&2; exit 1; }
[ -e "/run/netns/$ns" ] || { echo "$prog: no network namespace $ns" >&2; exit 1; }
[ "$(stat -L -c %i "/run/netns/$ns")" != "$(stat -L -c %i /proc/1/ns/net 2>/dev/null || stat -L -c %i /proc/self/ns/net)" ] ||
    { echo "$prog: $ns is the host's network namespace" >&2; exit 1; }

W=(-w 5 -W 100000)
# iptables-nft says "Ignoring deprecated --wait-interval option" for -W: dropped from stderr
run() { ip netns exec "$ns" "$@" 2> >(grep -v '^Ignoring deprecated --wait-interval option' >&2); }
ipt() { echo "+ iptables ${W[*]} $*"; run iptables "${W[@]}" "$@" || { echo "$prog: failed: iptables $*" >&2; exit 1; }; }
# EnsureChain: -N, where exit status 1 (the chain exists) counts as success
ensure_chain() { # <table> <chain>
    echo "+ iptables ${W[*]} -N $2 -t $1"
    run iptables "${W[@]}" -N "$2" -t "$1" 2>/dev/null
    case $? in 0) ;; 1) echo "# (exists: exit status 1, which EnsureChain accepts)" ;; *) echo "$prog: failed: iptables -N $2 -t $1" >&2; exit 1 ;; esac
}
hash16() { python3 -c 'import sys, hashlib, base64; print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode()[:16])' "$1"; }

mark=0x004000   # fmt.Sprintf("%#08x", 1 << 14)

# NewProxier: route_localnet for localhost node ports
echo "+ echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet"
ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet' || exit 1
# Monitor (goroutine of NewProxier): the canary chains
for t in mangle nat filter; do ensure_chain $t KUBE-PROXY-CANARY; done

# syncProxyRules, full sync: iptablesJumpChains then iptablesKubeletJumpChains, each
# EnsureChain(table, dst) and EnsureRule(Prepend, table, src, extraArgs, comment, -j dst)
jump() { # <table> <dst> <src> <comment> [extra args...]
    local t=$1 dst=$2 src=$3 comment=$4 a=()
    shift 4
    a=("$@")
    [ -n "$comment" ] && a+=(-m comment --comment "$comment")
    a+=(-j "$dst")
    ensure_chain "$t" "$dst"
    echo "# probe (fails on a fresh ruleset): iptables ${W[*]} -C $src -t $t ${a[*]}"
    ipt -I "$src" -t "$t" "${a[@]}"
}
new=(-m conntrack --ctstate NEW)
jump filter KUBE-EXTERNAL-SERVICES INPUT "kubernetes externally-visible service portals" "${new[@]}"
jump filter KUBE-EXTERNAL-SERVICES FORWARD "kubernetes externally-visible service portals" "${new[@]}"
jump filter KUBE-NODEPORTS INPUT "kubernetes health check service ports"
jump filter KUBE-SERVICES FORWARD "kubernetes service portals" "${new[@]}"
jump filter KUBE-SERVICES OUTPUT "kubernetes service portals" "${new[@]}"
jump filter KUBE-FORWARD FORWARD "kubernetes forwarding rules"
jump filter KUBE-PROXY-FIREWALL INPUT "kubernetes load balancer firewall" "${new[@]}"
jump filter KUBE-PROXY-FIREWALL OUTPUT "kubernetes load balancer firewall" "${new[@]}"
jump filter KUBE-PROXY-FIREWALL FORWARD "kubernetes load balancer firewall" "${new[@]}"
jump nat KUBE-SERVICES OUTPUT "kubernetes service portals"
jump nat KUBE-SERVICES PREROUTING "kubernetes service portals"
jump nat KUBE-POSTROUTING POSTROUTING "kubernetes postrouting rules"
jump filter KUBE-FIREWALL INPUT ""
jump filter KUBE-FIREWALL OUTPUT ""

web=default/web:http empty=default/empty:http ep=10.244.0.5:8080
svc=KUBE-SVC-$(hash16 "${web}tcp") ext=KUBE-EXT-$(hash16 "${web}tcp") sep=KUBE-SEP-$(hash16 "${web}tcp${ep}")

input=$(cat <<EOF
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-SERVICES -m comment --comment "$empty has no endpoints" -m tcp -p tcp -d 10.96.0.11 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "$empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j REJECT
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark $mark/$mark -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:$ext - [0:0]
:$svc - [0:0]
:$sep - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark $mark/$mark -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark $mark
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark $mark
-A KUBE-SERVICES -m comment --comment "$web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j $svc
-A KUBE-NODEPORTS -m comment --comment $web -m tcp -p tcp --dport 30080 -j $ext
-A $svc -m comment --comment "$web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s $cidr -j KUBE-MARK-MASQ
-A $ext -m comment --comment "masquerade traffic for $web external destinations" -j KUBE-MARK-MASQ
-A $ext -j $svc
-A $svc -m comment --comment "$web -> $ep" -j $sep
-A $sep -m comment --comment $web -s 10.244.0.5 -j KUBE-MARK-MASQ
-A $sep -m comment --comment $web -m tcp -p tcp -j DNAT --to-destination $ep
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
EOF
)
echo "+ iptables-restore ${W[*]} --noflush --counters"
echo "--- iptables-restore input"
echo "$input"
echo "--- end"
echo "$input" | run iptables-restore "${W[@]}" --noflush --counters || { echo "$prog: iptables-restore failed" >&2; exit 1; }
echo "$prog: kube-proxy v1.28.0's rules for $web (endpoint $ep) and $empty (no endpoints) are in $ns"
