#!/bin/bash
# Checks the harnesses of issue 14 (ufw-netns.sh, podman-netns.sh, fail2ban-netns.sh,
# shorewall-netns.sh): for each, in a namespace it makes and in one it is given, start, a second
# start ("already"), status, the tool's own status command, stop, a second stop, a status after
# stop (1); and after all of them that nothing is left: no namespace of theirs, no /etc/netns
# entry, no state directory, no process, no mount, no cgroup of podman's, and the host's ruleset
# (nft, iptables-nft and iptables-legacy, v4 and v6) exactly as before.
#
#   sudo Tests/tools/owner-harness-test.sh [HARNESS...]     (ufw podman fail2ban shorewall)
#
# Prints "ok   ..." / "FAIL ..." per check, then "owner-harness-test: N passed, M failed".
# Exit status: 0 all passed, 1 a check failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "owner-harness-test: needs root" >&2; exit 1; }
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(ufw podman fail2ban shorewall)
work=$(mktemp -d /tmp/fwt-oht.XXXXXX) || exit 1
pass=0 fail=0
check() { # <description> <command...>
    local d=$1
    shift
    if "$@" >"$work/out" 2>&1; then echo "ok   $d"; pass=$((pass + 1)); else echo "FAIL $d"; sed 's/^/     /' "$work/out" | tail -n 20; fail=$((fail + 1)); fi
}
not() { ! "$@"; }
host_rules() {
    nft list ruleset 2>/dev/null
    local c
    for c in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do $c 2>/dev/null | sed '/^#/d'; done
}
host_rules > "$work/host.before"
etc_before=$(ls -A /etc/netns 2>/dev/null | sort | tr '\n' ' ')
cg_before=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null | tr '\n' ' ')
given=fwt-oht-given
cleanup() { ip netns del "$given" 2>/dev/null; rm -rf -- "$work"; }
trap cleanup EXIT

for h in "${names[@]}"; do
    H=$here/$h-netns.sh
    [ -x "$H" ] || { echo "FAIL no $H"; fail=$((fail + 1)); continue; }
    modes="made given"
    [ "$h" = shorewall ] && modes=given   # its interface must exist before start
    for mode in $modes; do
        ns=fwt-oht-$h st=$work/$h-$mode args=()
        if [ $mode = given ]; then
            ns=$given
            ip netns add "$ns" || exit 1
        fi
        if [ "$h" = shorewall ]; then
            ip link add s0 netns "$ns" type veth peer name s0p netns "$ns" && ip -n "$ns" link set s0 up || exit 1
            args=(iface=s0)
        fi
        check "$h ($mode ns): start" "$H" start "$ns" "$st" "${args[@]}"
        check "$h ($mode ns): second start says already" sh -c "'$H' start '$ns' '$st' ${args[*]} | grep -q already"
        check "$h ($mode ns): status" "$H" status "$ns" "$st"
        case $h in
            ufw)       check "$h ($mode ns): ufw status says active" sh -c "'$H' cmd '$ns' '$st' -- ufw status | grep -qx 'Status: active'" ;;
            podman)    check "$h ($mode ns): podman run -p 8080:80" "$H" cmd "$ns" "$st" -- podman run -d --name web -p 8080:80 localhost/fwt-busybox
                       check "$h ($mode ns): podman port -a" sh -c "'$H' cmd '$ns' '$st' -- podman port -a | grep -q '80/tcp -> 0.0.0.0:8080'" ;;
            fail2ban)  check "$h ($mode ns): banip" "$H" cmd "$ns" "$st" -- fail2ban-client set sshd banip 10.77.0.9
                       check "$h ($mode ns): the ban in iptables" sh -c "ip netns exec '$ns' iptables -S f2b-sshd | grep -q 10.77.0.9" ;;
            shorewall) check "$h ($mode ns): shorewall show policies" sh -c "'$H' cmd '$ns' '$st' -- shorewall show policies | grep -q 'net.*fw.*DROP'" ;;
        esac
        check "$h ($mode ns): stop" "$H" stop "$ns" "$st"
        check "$h ($mode ns): second stop" "$H" stop "$ns" "$st"
        check "$h ($mode ns): status after stop is 1" not "$H" status "$ns" "$st"
        check "$h ($mode ns): no state directory" not test -e "$st"
        check "$h ($mode ns): no /etc/netns/$ns" not test -e "/etc/netns/$ns"
        if [ $mode = made ]; then
            check "$h ($mode ns): its namespace deleted" not test -e "/run/netns/$ns"
        else
            check "$h ($mode ns): the given namespace kept" test -e "/run/netns/$ns"
            check "$h ($mode ns): no chain of the tool left in it" sh -c "! ip netns exec '$ns' iptables-save | grep -E '^:(ufw|f2b-|NETAVARK)'"
            ip netns del "$ns"
        fi
    done
done

check "no process of the tools" sh -c "! ps -eo args | grep -E '^(/usr/bin/python3 /usr/bin/fail2ban-server|/usr/bin/conmon|/bin/httpd)' | grep -q ."
check "no mount under a state directory" sh -c "! grep -q '$work' /proc/self/mountinfo"
check "podman's cgroups as before" test "$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null | tr '\n' ' ')" = "$cg_before"
check "/etc/netns as before" test "$(ls -A /etc/netns 2>/dev/null | sort | tr '\n' ' ')" = "$etc_before"
host_rules > "$work/host.after"
check "the host's ruleset unchanged" cmp "$work/host.before" "$work/host.after"
echo "owner-harness-test: $pass passed, $fail failed"
[ "$fail" = 0 ]
