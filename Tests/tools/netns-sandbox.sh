#!/bin/bash
# Runs COMMAND where `fwtrace follow --all-netns` sees only the namespaces the test makes, never the
# host's: a new network namespace (the sandbox's initial one, lo up), a new PID namespace with its
# own /proc (so /proc/*/ns/net names only the sandbox's processes), and a private mount namespace
# without the nsfs bind mounts it inherited and with a tmpfs of its own on /run/netns (so `ip netns
# add` inside makes names only the sandbox sees). Everything goes with the sandbox's last process.
#
#   Tests/tools/netns-sandbox.sh COMMAND [ARG...]     exits with COMMAND's status
set -eu
[ $# -ge 1 ] || { sed -n '7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "netns-sandbox: needs root" >&2; exit 1; }
mkdir -p /run/netns
exec unshare --net --pid --fork --mount --mount-proc --propagation private -- /bin/bash -c '
    set -eu
    # nsfs mounts inherited from the host (its /run/netns names, runtimes'"'"' netns dirs): not ours.
    awk '"'"'{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "nsfs") print $5; break } }'"'"' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    mount -t tmpfs -o mode=0755,size=1m fwt-sandbox-netns /run/netns
    ip link set lo up
    exec "$@"' netns-sandbox "$@"
