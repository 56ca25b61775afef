#!/bin/bash
# Checks systemd/fwtrace.service with `systemd-analyze verify` and `systemd-analyze security`,
# against a fwtrace binary that is not installed.
#
#   Tests/tools/verify-unit.sh [--max-exposure N] <path-to-fwtrace-binary> [unit-file]
#
# `systemd-analyze verify` insists that ExecStart's program exists and is executable, so the unit
# is copied into a temporary directory with ExecStart rewritten to the binary's absolute path
# (the file keeps the name fwtrace.service). Nothing is installed; the temporary directory is
# removed on exit. Works without systemd as PID 1 (systemd-analyze reads files only).
#
# Output (stdout): one line per finding about our unit, then a summary:
#   verify: ok
#   exposure: 2.8 OK (max 3.0)
# Exit status: 0 when verify printed nothing about the unit, exited 0, and the exposure score is
# at most --max-exposure (default 3.0); 1 otherwise; 2 on bad usage. Lines that systemd-analyze
# prints about OTHER units (system units pulled in by After=/WantedBy=) are ignored: only lines
# that name fwtrace.service or the temporary copy count.
set -u

max_exposure=3.0
if [ "${1:-}" = "--max-exposure" ]; then max_exposure="${2:?--max-exposure needs a number}"; shift 2; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 [--max-exposure N] <path-to-fwtrace-binary> [unit-file]" >&2; exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
binary=$(realpath -e "$1" 2>/dev/null) || { echo "verify-unit: no such binary: $1" >&2; exit 2; }
[ -x "$binary" ] || { echo "verify-unit: not executable: $binary" >&2; exit 2; }
unit=${2:-$here/../../systemd/fwtrace.service}
[ -f "$unit" ] || { echo "verify-unit: no such unit file: $unit" >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "verify-unit: systemd-analyze not found (apt-get install systemd)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/fwtrace-verify-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
copy="$tmp/fwtrace.service"
# Only the program path of ExecStart changes; its arguments stay.
sed -E "s#^ExecStart=(\S*/)?fwtrace( |\$)#ExecStart=${binary//#/\\#}\\2#" "$unit" > "$copy"
if ! grep -q "^ExecStart=$binary" "$copy"; then
    echo "verify-unit: could not rewrite ExecStart in $unit" >&2; exit 1
fi

# systemd-analyze verify and security start a manager in test mode, which touches
# /run/systemd/systemd-units-load on the host. As root, run them in a private mount namespace
# with a tmpfs over /run/systemd (nothing the checks need is there), so the host is untouched.
analyze() {
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
        unshare --mount --propagation private /bin/sh -c \
            'mount -t tmpfs -o mode=0755 tmpfs /run/systemd && exec systemd-analyze "$@"' sh "$@"
    else
        systemd-analyze "$@"
    fi
}

status=0
out=$(cd "$tmp" && analyze verify --man=no "$copy" 2>&1); rc=$?
ours=$(printf '%s\n' "$out" | grep -F -e 'fwtrace.service' -e "$tmp" || true)
if [ -n "$ours" ]; then printf '%s\n' "$ours"; fi
if [ $rc -ne 0 ] || [ -n "$ours" ]; then
    echo "verify: FAILED (systemd-analyze verify exit $rc)"; status=1
else
    echo "verify: ok"
fi

sec=$(cd "$tmp" && analyze security --offline=true --no-pager "$copy" 2>&1)
line=$(printf '%s\n' "$sec" | grep 'Overall exposure level' | tail -1)
score=$(printf '%s\n' "$line" | sed -nE 's/.*: ([0-9]+\.[0-9]+) ([A-Z]+).*/\1 \2/p')
if [ -z "$score" ]; then
    printf '%s\n' "$sec" | tail -5
    echo "exposure: unknown (systemd-analyze security --offline failed)"; status=1
else
    echo "exposure: $score (max $max_exposure)"
    if ! awk -v s="${score%% *}" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
        echo "exposure: FAILED, above $max_exposure"; status=1
    fi
fi
exit $status
