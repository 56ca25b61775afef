#!/bin/bash
# Docker's iptables rules, as data: in network namespace NS, the iptables commands Docker Engine
# 20.10.24 (Debian 12's docker.io 20.10.24+dfsg1) issues, in the order it issues them, for a fresh
# daemon with its defaults (iptables=true, ip6tables=false, ip-forward=true, ip-masq=true,
# icc=true, userland-proxy=true) and its default bridge docker0 (172.17.0.1/16), then for one
# container at CONTAINER_IP published with `-p HOST_PORT:CONTAINER_PORT` (tcp, host IP 0.0.0.0).
# The Docker engine cannot run on these machines (issue 14); this replays what its code does.
#
#   Tests/tools/docker-rules.sh NS CONTAINER_IP HOST_PORT CONTAINER_PORT
#
# Source followed: moby v20.10.24 (tag of github.com/moby/moby), which vendors libnetwork at
# c5aa85f9b25f0acaec8591ced679cb9fb5b9e32c (vendor.conf), files under
# vendor/github.com/docker/libnetwork/:
#   drivers/bridge/bridge.go        configure(): removeIPChains, setupIPChains, setupIPForwarding;
#                                   createNetwork(): the setup steps in order (setupDevice,
#                                   setupBridgeIPv4, setupIP4Tables, setupNetworkIsolationRules)
#   drivers/bridge/setup_ip_tables.go  setupIPChains (DOCKER in nat and filter,
#                                   DOCKER-ISOLATION-STAGE-1/2 + their RETURN), setupIPTablesInternal
#                                   (MASQUERADE, the nat DOCKER "-i docker0 -j RETURN", setIcc, the
#                                   outgoing ACCEPT), setINC (the isolation rules)
#   drivers/bridge/setup_ip_forwarding.go  ip_forward=1 and FORWARD policy DROP (it was 0)
#   iptables/iptables.go            NewChain (-n -L probe, -N), ProgramChain (nat PREROUTING and
#                                   OUTPUT jumps, filter FORWARD -o docker0 jumps), AddReturnRule,
#                                   EnsureJumpRule (-D if present, then -I), ProgramRule (-C
#                                   probe, then -A/-I), ChainInfo.Forward (the published port:
#                                   nat DOCKER DNAT, filter DOCKER ACCEPT, nat POSTROUTING
#                                   MASQUERADE), raw() (the --wait prefix: iptables supports it)
#   firewall_linux.go               arrangeUserFilterRule (DOCKER-USER + RETURN + jump first in
#                                   FORWARD), called by controller.go NewNetwork after each network
#   portmapper/mapper.go            Map: AppendForwardingTableEntry -> ChainInfo.Forward (IPv4; the
#                                   "::" binding has no ip6tables chain: docker-proxy only)
#   drivers/bridge/port_mapping.go  allocatePortsInternal: the IPv4 binding first
# Only the commands that change the ruleset are issued; the probes the code runs before them
# (`-t T -n -L CHAIN`, `-t T -C CHAIN RULE...`, all failing on a fresh namespace, so the change
# follows) and the removals it runs first and that fail on a fresh ruleset (removeIPChains:
# -D FORWARD -j DOCKER-ISOLATION, -F/-X of each chain; setIcc's -D of the DROP rule) are printed
# as comments in the log of what was run. Not replayed: firewalld passthrough (no firewalld),
# docker-proxy (a userland process, no rule), the container's own veth and namespace (the caller
# makes those: CONTAINER_IP must be in 172.17.0.0/16 and reachable on docker0).
#
# In NS it makes the bridge docker0 (172.17.0.1/16, up) if absent, sets net.ipv4.ip_forward=1,
# then runs the commands with iptables (iptables-nft unless the alternative says legacy), each
# printed first as `+ iptables --wait ...`. NS must exist and must not be the host's namespace.
# Exit status: 0 ok, 1 a command failed, 2 bad usage.
set -u
prog=docker-rules
usage() { sed -n '9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 4 ] || usage
ns=$1 cip=$2 hport=$3 cport=$4
case "$ns" in ""|*/*|.|..|-*) usage ;; esac
case "$cip" in 172.17.*.*) ;; *) echo "$prog: CONTAINER_IP must be in docker0's 172.17.0.0/16" >&2; exit 2 ;; esac
for p in "$hport" "$cport"; do case "$p" in ""|*[!0-9]*) usage ;; esac; done
[ "$(id -u)" = 0 ] || { echo "$prog: needs root" >&2; exit 1; }
[ -e "/run/netns/$ns" ] || { echo "$prog: no network namespace $ns" >&2; exit 1; }
[ "$(stat -L -c %i "/run/netns/$ns")" != "$(stat -L -c %i /proc/1/ns/net 2>/dev/null || stat -L -c %i /proc/self/ns/net)" ] ||
    { echo "$prog: $ns is the host's network namespace" >&2; exit 1; }

ipt() { echo "+ iptables --wait $*"; ip netns exec "$ns" iptables --wait "$@" || { echo "$prog: failed: iptables $*" >&2; exit 1; }; }
probe() { echo "# probe (fails on a fresh ruleset): iptables --wait $*"; }
bridge=docker0 subnet=172.17.0.0/16

# bridge.go configure(): removeIPChains(IPv4) on a ruleset without Docker's chains: all fail
probe -t filter -C FORWARD -j DOCKER-ISOLATION
for c in "nat DOCKER" "filter DOCKER" "filter DOCKER-ISOLATION-STAGE-1" "filter DOCKER-ISOLATION-STAGE-2" "filter DOCKER-ISOLATION"; do
    set -- $c
    [ "$1" = nat ] && probe -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    [ "$1" = nat ] && probe -t nat -D OUTPUT -m addrtype --dst-type LOCAL ! --dst 127.0.0.0/8 -j DOCKER
    [ "$1" = nat ] && probe -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j DOCKER
    [ "$1" = nat ] && probe -t nat -D PREROUTING
    [ "$1" = nat ] && probe -t nat -D OUTPUT
    probe -t "$1" -F "$2"
    probe -t "$1" -X "$2"
done
# setupIPChains(IPv4): NewChain x4, AddReturnRule x2
probe -t nat -n -L DOCKER;                      ipt -t nat -N DOCKER
probe -t filter -n -L DOCKER;                   ipt -t filter -N DOCKER
probe -t filter -n -L DOCKER-ISOLATION-STAGE-1; ipt -t filter -N DOCKER-ISOLATION-STAGE-1
probe -t filter -n -L DOCKER-ISOLATION-STAGE-2; ipt -t filter -N DOCKER-ISOLATION-STAGE-2
probe -t filter -C DOCKER-ISOLATION-STAGE-1 -j RETURN; ipt -A DOCKER-ISOLATION-STAGE-1 -j RETURN
probe -t filter -C DOCKER-ISOLATION-STAGE-2 -j RETURN; ipt -A DOCKER-ISOLATION-STAGE-2 -j RETURN
# setupIPForwarding: ip_forward was 0 -> 1, and then FORWARD policy DROP
if [ "$(ip netns exec "$ns" cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
    echo "+ echo 1 > /proc/sys/net/ipv4/ip_forward"
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || exit 1
    ipt -t filter -P FORWARD DROP
fi
# createNetwork("bridge"): setupDevice, setupDefaultSysctl, setupBridgeIPv4
if ! ip -n "$ns" link show "$bridge" >/dev/null 2>&1; then
    echo "+ ip link add $bridge type bridge"
    ip -n "$ns" link add "$bridge" type bridge || exit 1
fi
echo "+ echo 0 > /proc/sys/net/ipv6/conf/$bridge/accept_ra"
ip netns exec "$ns" sh -c "f=/proc/sys/net/ipv6/conf/$bridge/accept_ra; [ ! -e \$f ] || echo 0 > \$f"
if ! ip -n "$ns" -4 addr show dev "$bridge" | grep -q 'inet 172.17.0.1/16'; then
    echo "+ ip addr add 172.17.0.1/16 dev $bridge"
    ip -n "$ns" addr add 172.17.0.1/16 dev "$bridge" || exit 1
fi
# setupIP4Tables -> setupIPTablesInternal(hostIP nil, docker0, 172.17.0.0/16, icc, ipmasq, hairpin=false)
probe -t nat -C POSTROUTING -s $subnet ! -o $bridge -j MASQUERADE
ipt -t nat -I POSTROUTING -s $subnet ! -o $bridge -j MASQUERADE
probe -t nat -C DOCKER -i $bridge -j RETURN
ipt -t nat -I DOCKER -i $bridge -j RETURN
probe -D FORWARD -i $bridge -o $bridge -j DROP     # setIcc(icc=true): the DROP removed first (absent)
probe -t filter -C FORWARD -i $bridge -o $bridge -j ACCEPT
ipt -I FORWARD -i $bridge -o $bridge -j ACCEPT
probe -t filter -C FORWARD -i $bridge ! -o $bridge -j ACCEPT
ipt -I FORWARD -i $bridge ! -o $bridge -j ACCEPT
# ProgramChain(nat DOCKER, docker0, hairpin=false), ProgramChain(filter DOCKER, docker0)
probe -t nat -C PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
probe -t nat -C OUTPUT -m addrtype --dst-type LOCAL -j DOCKER ! --dst 127.0.0.0/8
ipt -t nat -A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER ! --dst 127.0.0.0/8
probe -t filter -C FORWARD -o $bridge -j DOCKER
ipt -I FORWARD -o $bridge -j DOCKER
probe -t filter -C FORWARD -o $bridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ipt -I FORWARD -o $bridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
# setupIPTables: EnsureJumpRule(FORWARD, DOCKER-ISOLATION-STAGE-1)
probe -t filter -C FORWARD -j DOCKER-ISOLATION-STAGE-1
ipt -I FORWARD -j DOCKER-ISOLATION-STAGE-1
# setupNetworkIsolationRules -> isolateNetwork -> setINC(IPv4, docker0, true)
probe -t filter -C DOCKER-ISOLATION-STAGE-1 -i $bridge ! -o $bridge -j DOCKER-ISOLATION-STAGE-2
ipt -t filter -I DOCKER-ISOLATION-STAGE-1 -i $bridge ! -o $bridge -j DOCKER-ISOLATION-STAGE-2
probe -t filter -C DOCKER-ISOLATION-STAGE-2 -o $bridge -j DROP
ipt -t filter -I DOCKER-ISOLATION-STAGE-2 -o $bridge -j DROP
# setupDeviceUp
echo "+ ip link set $bridge up"
ip -n "$ns" link set "$bridge" up || exit 1
# controller.go NewNetwork -> arrangeUserFilterRule: DOCKER-USER
probe -t filter -n -L DOCKER-USER;  ipt -t filter -N DOCKER-USER
probe -t filter -C DOCKER-USER -j RETURN
ipt -A DOCKER-USER -j RETURN
probe -t filter -C FORWARD -j DOCKER-USER
ipt -I FORWARD -j DOCKER-USER
# docker run -p HOST_PORT:CONTAINER_PORT: PortMapper.Map -> ChainInfo.Forward(Append, 0.0.0.0, ...)
probe -t nat -C DOCKER -p tcp -d 0/0 --dport "$hport" -j DNAT --to-destination "$cip:$cport" ! -i $bridge
ipt -t nat -A DOCKER -p tcp -d 0/0 --dport "$hport" -j DNAT --to-destination "$cip:$cport" ! -i $bridge
probe -t filter -C DOCKER ! -i $bridge -o $bridge -p tcp -d "$cip" --dport "$cport" -j ACCEPT
ipt -t filter -A DOCKER ! -i $bridge -o $bridge -p tcp -d "$cip" --dport "$cport" -j ACCEPT
probe -t nat -C POSTROUTING -p tcp -s "$cip" -d "$cip" --dport "$cport" -j MASQUERADE
ipt -t nat -A POSTROUTING -p tcp -s "$cip" -d "$cip" --dport "$cport" -j MASQUERADE
echo "$prog: Docker 20.10.24's rules for docker0 and $cip:$cport published on $hport/tcp are in $ns"
