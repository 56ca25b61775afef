#!/bin/bash
# Runs systemd/fwtrace.service under a REAL systemd (PID 1 of a throwaway container) and checks it.
#
#   Tests/tools/unit-container.sh sandbox <results-dir>
#       The unit as shipped, with a stand-in daemon (unit-container/fake-daemon.py) that does
#       what fwtrace daemon will do (control socket, files, nft, iptables-legacy, nf_log in
#       another namespace, setns, journald, sd_notify, SIGHUP, SIGTERM) and records what the
#       sandbox allowed. Checks the expected answers.
#   Tests/tools/unit-container.sh follow <fwtrace-binary> <results-dir>
#       The unit's sandbox (same file, Type=exec, ExecStart rewritten) around
#       `fwtrace follow --standalone --netns t1 -p icmp --count 2 --backend nft|legacy`, with ICMP
#       sent on t1's loopback. Checks that both backends trace 2 paths and leave nothing behind.
#   Tests/tools/unit-container.sh daemon <fwtrace-binary> <config.toml> <results-dir>
#       The unit as shipped around the real `fwtrace daemon`: start (READY=1), status, metrics (when
#       the config has [metrics], on 127.0.0.1:9469), reload, stop.
#
# How: in a private mount namespace, an overlayfs of / (upper layer: tmpfs) becomes the root
# of `systemd-nspawn --boot --private-network`, whose PID 1 is the host's own systemd 252 booting
# into a small target that runs the scenario, writes <results-dir>/*, and powers off. The container
# has its own network namespace, so no firewall rule touches the host; nothing is written
# outside <results-dir> (checked with find -newer). Needs root, overlayfs, and the Debian
# package systemd-container. Takes 10-20 s.
# Output: the checks, one per line ("ok   ..." / "FAIL ..."), then "unit-container: N checks, M failed".
# Exit status: 0 all checks passed, 1 a check failed or the container did not run, 2 bad usage.
set -u
prog=unit-container
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

mode=${1:-}
case "$mode" in
    sandbox) [ $# -eq 2 ] || usage; results=$2; binary=$here/unit-container/fake-daemon.py; config= ;;
    follow)  [ $# -eq 3 ] || usage; binary=$2; results=$3; config= ;;
    daemon)  [ $# -eq 4 ] || usage; binary=$2; config=$3; results=$4 ;;
    *) usage ;;
esac
[ "$(id -u)" = 0 ] || { echo "$prog: must run as root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "$prog: systemd-nspawn not found (apt-get install --no-install-recommends systemd-container)" >&2; exit 1; }
binary=$(realpath -e "$binary") || exit 2
[ -z "$config" ] || config=$(realpath -e "$config") || exit 2
mkdir -p "$results" && results=$(realpath "$results") && rm -f "$results"/*

work=$(mktemp -d /tmp/fwtrace-unit-container.XXXXXX)
trap 'rm -rf "$work"' EXIT
unitdir=$repo/systemd

# --- the scenario, run by the container's systemd -------------------------------------------
cat > "$work/probe.target" <<'EOF'
[Unit]
Description=fwtrace unit test
Requires=probe.service
After=probe.service
EOF
cat > "$work/probe.service" <<'EOF'
[Unit]
Description=fwtrace unit test scenario
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fwtrace-scenario
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
binds=()
# UNIT_CONTAINER_HOST_LOGS=DIR binds the host directory DIR over the container's /var/log/fwtrace,
# read-write: what the unit writes there lands on the host, and the host check must say so (the
# test that proves the check catches a real write uses it).
if [ -n "${UNIT_CONTAINER_HOST_LOGS:-}" ]; then binds+=(--bind="$UNIT_CONTAINER_HOST_LOGS:/var/log/fwtrace"); fi
if [ "$mode" = follow ]; then
    sed -e 's/^Type=notify/Type=exec/' -e '/^WatchdogSec=/d' -e '/^Restart=/d' -e '/^RestartSec=/d' \
        -e '/^ExecReload=/d' -e '/^NotifyAccess=/d' \
        -e 's#^ExecStart=.*#ExecStart=/usr/local/bin/fwtrace follow --standalone --netns t1 -p icmp --count 2 --timeout 8s --format json --backend %i#' \
        "$unitdir/fwtrace.service" > "$work/fwtrace-follow@.service"
    binds+=(--bind-ro="$work/fwtrace-follow@.service:/etc/systemd/system/fwtrace-follow@.service")
    cat > "$work/scenario" <<'EOF'
#!/bin/sh
exec > /results/scenario.txt 2>&1
ip netns add t1; ip -n t1 link set lo up
for b in nft legacy; do
  echo "=== $b"
  echo "nf_log/2 before: $(ip netns exec t1 cat /proc/sys/net/netfilter/nf_log/2)"
  systemctl start --no-block fwtrace-follow@$b
  sleep 2
  for i in 1 2 3; do ip netns exec t1 /usr/bin/python3 /usr/local/lib/fwtrace-send.py icmp4 127.0.0.1; sleep 0.3; done
  for i in $(seq 100); do [ "$(systemctl show -P ActiveState fwtrace-follow@$b)" = inactive ] && break; sleep 0.1; done
  systemctl show fwtrace-follow@$b -p Result -p ExecMainStatus
  journalctl -u fwtrace-follow@$b -o cat --no-pager | grep '^{' > /results/follow-$b.jsonl
  echo "nf_log/2 after: $(ip netns exec t1 cat /proc/sys/net/netfilter/nf_log/2)"
  echo "TRACE rules left: $(ip netns exec t1 iptables-legacy -t raw -S | grep -c TRACE)"
  echo "nft tables left: $(ip netns exec t1 nft list tables | grep -c fwtrace)"
done
EOF
    binds+=(--bind-ro="$repo/Tests/tools/send.py:/usr/local/lib/fwtrace-send.py")
else
    cat > "$work/scenario" <<'EOF'
#!/bin/sh
exec > /results/scenario.txt 2>&1
ip netns add t1
echo "--- start"; systemctl start fwtrace; echo "start-rc=$?"
ip netns add t2           # after the start: must still be reachable from the service
ip -n t1 link set lo up
ip netns exec t1 nft add table ip f
ip netns exec t1 nft add chain ip f input '{ type filter hook input priority 0; policy accept; }'
ip netns exec t1 nft add rule ip f input meta l4proto icmp accept
sleep 2
# Traced packets: a watch on ICMP in t1 (the test's config) sees them under the unit's sandbox.
for i in 1 2 3; do ip netns exec t1 /usr/bin/python3 /usr/local/lib/fwtrace-send.py icmp4 127.0.0.1; sleep 0.3; done
sleep 1
# The real daemon only (daemon mode binds its config): the sandbox mode's stand-in has no status.
if [ -f /etc/fwtrace/fwtrace.toml ]; then echo "--- status"; /usr/local/bin/fwtrace status; echo "status-rc=$?"; fi
# The daemon's metrics (its config's [metrics] listens on 127.0.0.1:9469, the container's own loopback).
if grep -q '^\[metrics\]' /etc/fwtrace/fwtrace.toml 2>/dev/null; then
    curl -sS --max-time 5 http://127.0.0.1:9469/metrics > /results/metrics.txt; echo "metrics-rc=$?"
fi
echo "--- reload"; systemctl reload fwtrace; echo "reload-rc=$?"
sleep 1
systemctl show fwtrace -p ActiveState -p SubState -p StatusText -p NRestarts -p WatchdogUSec
echo "--- files"; ls -la /run/fwtrace /var/log/fwtrace /run/xtables.lock
echo "--- stop"; systemctl stop fwtrace; echo "stop-rc=$?"
systemctl show fwtrace -p Result -p ExecMainStatus
echo "--- after stop"; ls -la /run/fwtrace
[ -f /var/log/fwtrace/selftest.txt ] && cp /var/log/fwtrace/selftest.txt /results/selftest.txt
journalctl -u fwtrace -o short-iso --no-pager > /results/journal-unit.txt
journalctl SYSLOG_IDENTIFIER=fwtrace _TRANSPORT=journal -o json -a --no-pager > /results/journal-native.jsonl
journalctl SYSLOG_IDENTIFIER=fwtrace FWTRACE_TYPE=path FWTRACE_VERDICT=accept -o json -a --no-pager > /results/journal-accepted.jsonl
ip netns exec t1 nft list tables > /results/nft-after.txt
[ -f /var/log/fwtrace/paths.jsonl ] && cp /var/log/fwtrace/paths.jsonl /results/paths.jsonl
EOF
    binds+=(--bind-ro="$repo/Tests/tools/send.py:/usr/local/lib/fwtrace-send.py")
    if [ -n "$config" ]; then binds+=(--bind-ro="$config:/etc/fwtrace/fwtrace.toml"); fi
fi
chmod 755 "$work/scenario"

# --- the container ----------------------------------------------------------------------------
cat > "$work/boot" <<'EOF'
#!/bin/bash
# In a private mount namespace: overlay of / (the root file system only, no submounts) with a
# tmpfs upper layer, and a tmpfs over /run/systemd for nspawn's own scratch directory.
set -e
w=$1; shift
mount -t tmpfs fwtrace-unit "$w/ov"
mkdir -p "$w/ov/lower" "$w/ov/upper" "$w/ov/work" "$w/ov/root"
mount --bind / "$w/ov/lower"
mount -t overlay overlay -o "lowerdir=$w/ov/lower,upperdir=$w/ov/upper,workdir=$w/ov/work" "$w/ov/root"
mount -t tmpfs fwtrace-unit /run/systemd
exec "$@"
EOF
chmod 755 "$work/boot"; mkdir -p "$work/ov"
touch "$work/stamp"
# mount(8) keeps libmount's table in /run/mount/utab and makes /run/mount the first time it runs on
# a machine: a first-run effect of this harness, not of the unit. It goes into the harness's own
# directory instead, so the host check below needs no exception for it and sees a machine's first
# run as any other.
export LIBMOUNT_UTAB="$work/utab"
timeout 240 unshare --mount --propagation private "$work/boot" "$work" \
    systemd-nspawn -q -D "$work/ov/root" --private-network --register=no --keep-unit --link-journal=no \
    -M fwtrace-unit-test \
    --bind="$results:/results" \
    --bind-ro="$work/probe.target:/etc/systemd/system/probe.target" \
    --bind-ro="$work/probe.service:/etc/systemd/system/probe.service" \
    --bind-ro="$work/scenario:/usr/local/sbin/fwtrace-scenario" \
    --bind-ro="$binary:/usr/local/bin/fwtrace" \
    --bind-ro="$binary:/usr/bin/fwtrace" \
    --bind-ro="$unitdir/fwtrace.service:/etc/systemd/system/fwtrace.service" \
    --bind-ro="$unitdir/fwtrace.sysusers:/usr/lib/sysusers.d/fwtrace.conf" \
    --bind-ro="$unitdir/fwtrace.tmpfiles:/usr/lib/tmpfiles.d/fwtrace.conf" \
    "${binds[@]}" \
    --boot -- systemd.unit=probe.target > "$results/console.log" 2>&1
rc=$?
[ $rc -eq 0 ] && [ -f "$results/scenario.txt" ] || { tail -20 "$results/console.log" >&2; echo "$prog: the container did not run (exit $rc)" >&2; exit 1; }

# --- checks -----------------------------------------------------------------------------------
n=0 failed=0
check() { # <description> <file> <grep -E pattern>
    n=$((n + 1))
    if grep -qE -- "$3" "$results/$2" 2>/dev/null; then echo "ok   $1"; else echo "FAIL $1 (no /$3/ in $2)"; failed=$((failed + 1)); fi
}
case "$mode" in
sandbox)
    check "start: READY=1 reached"                       scenario.txt '^start-rc=0$'
    check "reload: SIGHUP, RELOADING=1/READY=1"          scenario.txt '^reload-rc=0$'
    check "stop: SIGTERM, clean exit"                    scenario.txt '^Result=success$'
    check "watchdog 30s"                                 scenario.txt '^WatchdogUSec=30s$'
    check "/run/fwtrace root:fwtrace 0710"               selftest.txt '^/run/fwtrace: 0o40710 uid=0 gid=[1-9]'
    check "/var/log/fwtrace root:fwtrace 0750"           selftest.txt '^/var/log/fwtrace: 0o40750 uid=0 gid=[1-9]'
    check "capabilities: NET_ADMIN NET_RAW SYS_ADMIN SYS_PTRACE only" selftest.txt '^CapEff: 0000000000283000$'
    check "no_new_privs, seccomp filter"                 selftest.txt '^Seccomp: 2$'
    check "socket 0660, group fwtrace, no chown"         selftest.txt '^socket after chmod: 0o140660 gid=[1-9]'
    check "chown filtered (@privileged)"                 selftest.txt '^chown socket.*EPERM'
    check "file sink writable, 0640"                     selftest.txt '^paths.jsonl: 0o100640'
    check "state file writable"                          selftest.txt '^write /run/fwtrace/legacy-netns-1.state: ok'
    check "/etc read-only"                               selftest.txt '^write /etc/fwtrace-probe.*EROFS'
    check "/run read-only (ReadOnlyPaths=/run)"          selftest.txt '^write /run/fwtrace-probe.*EROFS'
    check "kernel tunables read-only"                    selftest.txt '^write /proc/sys/vm/swappiness.*EROFS'
    check "/proc/PID/ns/net openable (CAP_SYS_PTRACE)"   selftest.txt '^open /proc/1/ns/net.*: ok'
    check "nft works"                                    selftest.txt '^nft list tables: rc=0 table inet fwtops_selftest'
    check "iptables-legacy works (lock, CAP_NET_RAW)"    selftest.txt '^iptables-legacy -w -t raw -S: rc=0 -P PREROUTING'
    check "conntrack -L works"                           selftest.txt '^conntrack -L: rc=0'
    check "nf_log writable in the service's netns"       selftest.txt '^nf_log/2 here: rc=0 .*\| nfnetlink_log'
    check "nf_log writable after setns (other netns)"    selftest.txt '^t1 nf_log/2: rc=0 .*\| nfnetlink_log'
    check "nf_conntrack_log_invalid writable after setns" selftest.txt '^t1 nf_conntrack_log_invalid: rc=0 1'
    check "iptables-legacy TRACE rule in other netns"    selftest.txt '^t1 iptables-legacy -I TRACE: rc=0'
    check "setns(fd, 0) refused"                         selftest.txt '^setns\(fd, 0\).*-1 Operation not permitted'
    check "mount namespace refused (ip netns exec)"      selftest.txt '^ip netns exec .*rc=255'
    check "netns added after start is usable"            selftest.txt '^t2 \(added after start\): rc=0 1: lo'
    check "TCP to 127.0.0.1 allowed"                     selftest.txt '^tcp socket to 127.0.0.1:9.*ECONNREFUSED'
    check "process_vm_readv filtered"                    selftest.txt '^process_vm_readv.*-1 Operation not permitted'
    check "AF_PACKET refused"                            selftest.txt '^AF_PACKET.*EAFNOSUPPORT'
    check "SIGHUP handled"                               selftest.txt '^SIGHUP: reload'
    check "cleanup on SIGTERM"                           selftest.txt '^t1 iptables-legacy -D TRACE \(cleanup on SIGTERM\): rc=0'
    check "journald native entry with FWTRACE_ fields"   journal-native.jsonl '"FWTRACE_VERDICT":"drop"'
    check "state kept after stop (RuntimeDirectoryPreserve)" scenario.txt 'legacy-netns-1.state'
    ;;
follow)
    for b in nft legacy; do
        check "$b: 2 path records"                       follow-$b.jsonl '"event":"ended".*"paths":2'
    done
    n=$((n + 1))
    if [ "$(grep -c '^Result=success$' "$results/scenario.txt")" = 2 ]; then echo "ok   both runs exited 0"; else echo "FAIL a run failed (scenario.txt)"; failed=$((failed + 1)); fi
    check "nf_log binding restored"                      scenario.txt '^nf_log/2 after: nf_log_ipv4$'
    check "no TRACE rule left"                           scenario.txt '^TRACE rules left: 0$'
    ;;
daemon)
    check "start: READY=1 reached"                       scenario.txt '^start-rc=0$'
    check "status through the control socket"            scenario.txt '^status-rc=0$'
    check "reload"                                       scenario.txt '^reload-rc=0$'
    check "stop: clean exit"                             scenario.txt '^Result=success$'
    check "journald sink: accepted paths with fields"    journal-accepted.jsonl '"FWTRACE_CHAIN":"input"'
    check "file sink: paths in /var/log/fwtrace"         paths.jsonl '"type":"path"'
    check "metrics served under the unit ([metrics])"    metrics.txt '^fwtrace_paths_total\{watch="icmp-t1",verdict="accept",.*\} [1-9]'
    n=$((n + 1))
    if grep -q fwtrace "$results/nft-after.txt" 2>/dev/null; then echo "FAIL an fwtrace table is left"; failed=$((failed + 1)); else echo "ok   no fwtrace table left after stop"; fi
    ;;
esac
# Nothing outside <results-dir> and /tmp may have changed. Paths that other tests running at the
# same time on this machine legitimately change (namespaces, fwtrace's own run directory, test
# users) are left out, so this check cannot blame them on the container.
leaks=$(find / -xdev -newer "$work/stamp" -not -path '/tmp/*' -not -path "$results/*" -not -path /tmp -not -path "$results" \
        -not -path '/proc/*' -not -path '/work/*' 2>/dev/null \
        | grep -vE '^/(etc|etc/(passwd|group|shadow|gshadow)-?|run/netns(/.*)?|run/fwtrace(/.*)?|run/xtables\.lock|root/\.cache(/.*)?)$' | head -5)
n=$((n + 1))
if [ -z "$leaks" ]; then echo "ok   host untouched"; else echo "FAIL host files changed: $leaks"; failed=$((failed + 1)); fi
echo "$prog: $n checks, $failed failed"
[ $failed -eq 0 ]
