#!/bin/bash
# The real podman (Debian 12's podman 4.3.1, netavark 1.4.0 as its network backend, runc 1.1.5)
# inside one network namespace, with private configuration and storage: for the tests.
#
#   Tests/tools/podman-netns.sh start  NS STATE_DIR                      podman ready in NS, image imported
#   Tests/tools/podman-netns.sh cmd    NS STATE_DIR -- COMMAND [ARG...]  COMMAND in NS and podman's mounts
#   Tests/tools/podman-netns.sh status NS STATE_DIR                      exit 0 if ready, 1 if not
#   Tests/tools/podman-netns.sh stop   NS STATE_DIR                      removes containers and what start made
#
# start: NS is made (ip netns add) if it does not exist, and then deleted by stop; a given NS must
# not be the host's. STATE_DIR must be absent, empty or an earlier STATE_DIR of this tool for NS, and
# not under /run or /etc. It writes /etc/netns/NS/containers (a copy of /etc/containers with
# storage.conf: vfs driver, graphroot STATE_DIR/storage, runroot STATE_DIR/runroot; containers.conf:
# network_backend netavark, network_config_dir STATE_DIR/networks, runtime runc, cgroupfs, file
# events, tmp dirs and volumes under STATE_DIR, nofile/nproc ulimits 1024), makes one persistent mount namespace for podman (STATE_DIR/mnt/ns) where that copy is
# /etc/containers and STATE_DIR/run is /run, and imports the test image
#   localhost/fwt-busybox   (a root of Debian's static busybox: sh, httpd, nc, sleep; /www/index.html)
# so that `cmd NS DIR -- podman run -d --name web -p 8080:80 localhost/fwt-busybox httpd -f -p 80 -h /www`
# works (no registry is reachable here). It prints
#   podman-netns: ready in NS (podman 4.3.1, netavark 1.4.0, runc 1.1.5, image localhost/fwt-busybox, 1.2 s)
# On failure it prints podman's output, undoes everything and exits 1. Already ready: exit 0.
# cmd: COMMAND in NS and in podman's mount namespace, with CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF set to the private files (so `podman ps`, `podman port -a`, `nft list
# ruleset` see this podman's world only); exits with COMMAND's status.
# stop: `podman rm -af` and `podman pod rm -af` (netavark tears down each container's rules), then
# ends what is left in podman's mount namespace (conmon), unmounts it, deletes the NETAVARK chains
# left in a given NS (netavark keeps them, empty), removes the libpod_parent cgroups if start made
# them, /etc/netns/NS/containers (and /etc/netns/NS, /etc/netns when start made them), NS when start
# made it, and STATE_DIR. Not started: exit 0.
# Exit status: 0 ok, 1 failure, 2 bad usage.
#
# Isolation: podman, conmon, netavark and the containers run under `nsenter --net=/run/netns/NS`
# (not `ip netns exec`, whose fresh /sys would hide the cgroup hierarchies runc needs), in a mount
# namespace of their own (private propagation) that stays for the harness's life, so the container
# network namespaces podman bind-mounts under /run/netns (STATE_DIR/run/netns) and its shm mounts
# are seen by every later cmd and by conmon's cleanup. netavark's iptables calls (iptables-nft) and
# its sysctls (ip_forward, route_localnet...) reach NS only. Storage, runroot, network configs,
# events and tmp are under STATE_DIR. Containers get nofile and nproc 1024 (podman's default
# raises them, which runc's init cannot do without CAP_SYS_RESOURCE, absent from some sandboxes). The only things outside it: cgroupfs directories
# /sys/fs/cgroup/*/libpod_parent/libpod-ID while a container runs (stop removes libpod_parent when
# start made it) and the nsfs bind mount STATE_DIR/mnt/ns. podman.service/podman.socket never start
# (make deps disables them).
set -u
prog=podman-netns
usage() { sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
# shellcheck source=netns-tool-lib.sh
. "$(dirname -- "$(realpath -- "$0")")/netns-tool-lib.sh" || exit 1

[ $# -ge 3 ] || usage
action=$1
tool_init "$2" "$3"
shift 3
IMAGE=localhost/fwt-busybox
NETAVARK=/usr/lib/podman/netavark

mntns=$state/mnt/ns
# COMMAND in NS and podman's mount namespace.
in_podman() {
    nsenter --net="/run/netns/$ns" --mount="$mntns" -- \
        env -i PATH=$SAFE_PATH LANG=C.UTF-8 HOME=/root TERM=dumb \
        CONTAINERS_CONF=/etc/containers/containers.conf CONTAINERS_STORAGE_CONF=/etc/containers/storage.conf "$@"
}
mnt_ready() { [ -f "$state/mnt.inode" ] && [ "$(stat -L -c %i "$mntns" 2>/dev/null)" = "$(cat "$state/mnt.inode")" ]; }

podman_ready() {
    mnt_ready && ns_same && in_podman podman image exists "$IMAGE" 2>/dev/null
}

# Processes in podman's mount namespace (conmon, containers' init if any survived).
mnt_pids() {
    local want p
    want=$(cat "$state/mnt.inode" 2>/dev/null) || return 0
    [ -n "$want" ] || return 0
    for p in /proc/[0-9]*; do
        [ "$(stat -L -c %i "$p/ns/mnt" 2>/dev/null)" = "$want" ] && echo "${p#/proc/}"
    done
}

netavark_chains_delete() { chains_delete NETAVARK filter nat mangle; }

do_stop() {
    local p d
    [ -f "$marker" ] || { [ -z "$(ls -A "$state" 2>/dev/null)" ] && rmdir "$state" 2>/dev/null; return 0; }
    if mnt_ready && ns_same; then
        in_podman podman rm -af -t 0 >/dev/null 2>&1
        in_podman podman pod rm -af -t 0 >/dev/null 2>&1
    fi
    for p in $(mnt_pids); do terminate "$p" "$(cat /proc/"$p"/comm 2>/dev/null)"; done
    if mountpoint -q "$mntns" 2>/dev/null; then umount "$mntns" || echo "$prog: umount $mntns failed" >&2; fi
    if mountpoint -q "$state/mnt" 2>/dev/null; then umount "$state/mnt" || echo "$prog: umount $state/mnt failed" >&2; fi
    if ns_same && ! grep -q '^netns ' "$made" 2>/dev/null; then netavark_chains_delete; fi
    if [ -f "$state/cgroups.made" ]; then
        while read -r d; do
            case "$d" in /sys/fs/cgroup/*/libpod_parent) ;; *) continue ;; esac
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done < "$state/cgroups.made"
    fi
    tool_undo
}

# The test image: Debian's static busybox and a page for its httpd.
make_image() {
    local root=$state/image/rootfs a
    mkdir -p "$root"/{bin,www,tmp,etc} || return 1
    cp /bin/busybox "$root/bin/busybox" || return 1
    for a in sh httpd nc sleep ls cat echo ip wget; do ln -s busybox "$root/bin/$a"; done
    echo "fwtrace test page" > "$root/www/index.html"
    echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
    tar -C "$root" --numeric-owner -cf "$state/image/rootfs.tar" . || return 1
    in_podman podman import --change 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' \
        "$state/image/rootfs.tar" "$IMAGE" >> "$state/start.log" 2>&1
}

do_start() {
    local t0 ms c d nofile nproc
    command -v podman >/dev/null || die "podman not found (make deps installs it)"
    [ -x "$NETAVARK" ] || die "$NETAVARK not found (make deps installs netavark)"
    command -v runc >/dev/null || die "runc not found (make deps installs it)"
    [ -x /bin/busybox ] && file_static=$(ldd /bin/busybox 2>&1 | grep -c 'not a dynamic') && [ "$file_static" = 1 ] ||
        die "/bin/busybox is not the static one (make deps installs busybox-static)"
    [ $# -eq 0 ] || usage
    if state_is_ours; then
        if podman_ready; then echo "$prog: already ready in $ns (dir $state)"; return 0; fi
        do_stop
    fi
    trap 'start_failed' EXIT
    trap 'exit 130' HUP INT TERM
    t0=$(now_ms)
    state_and_ns_setup
    for d in /sys/fs/cgroup/*/; do
        [ -d "${d}libpod_parent" ] || echo "${d}libpod_parent" >> "$state/cgroups.made"
    done
    mkdir -p "$state"/{storage,runroot,networks,tmp,volumes,imgtmp,static,mnt} || exit 1
    etc_overlay containers /etc/containers
    c=/etc/netns/$ns/containers
    # podman's defaults (nofile and nproc 1048576, or the hard limits) need CAP_SYS_RESOURCE in runc's
    # init: a machine whose bounding set lacks it fails "error setting rlimit type 7/6". 1024 works.
    nofile=1024 nproc=1024
    cat > "$c/storage.conf" <<EOF
# $prog: private storage for namespace $ns
[storage]
driver = "vfs"
graphroot = "$state/storage"
runroot = "$state/runroot"
EOF
    cat > "$c/containers.conf" <<EOF
# $prog: private containers.conf for namespace $ns
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[network]
network_backend = "netavark"
network_config_dir = "$state/networks"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$state/events.log"
tmp_dir = "/run/libpod"
image_copy_tmp_dir = "$state/imgtmp"
static_dir = "$state/static"
volume_path = "$state/volumes"
EOF
    # podman's mount namespace, kept by a bind mount of it on STATE_DIR/mnt/ns (which must be on a
    # mount of private propagation: STATE_DIR/mnt bound on itself)
    mount --bind "$state/mnt" "$state/mnt" && mount --make-private "$state/mnt" || exit 1
    : > "$mntns" || exit 1
    nsenter --net="/run/netns/$ns" -- unshare --mount="$mntns" --propagation private -- /bin/sh -c '
            mount --bind "$1" /etc/containers && mount --bind "$2/run" /run' sh "$c" "$state" || exit 1
    stat -L -c %i "$mntns" > "$state/mnt.inode" || exit 1
    make_image || { echo "$prog: podman import failed" >&2; exit 1; }
    podman_ready || { echo "$prog: image $IMAGE not there after import" >&2; exit 1; }
    trap - EXIT HUP INT TERM
    ms=$(( $(now_ms) - t0 ))
    printf '%s: ready in %s (podman %s, netavark %s, runc %s, image %s, %d.%d s)\n' "$prog" "$ns" \
        "$(podman --version | awk '{print $3}')" "$("$NETAVARK" --version | awk '{print $2}')" \
        "$(runc --version | awk 'NR==1 {print $3}')" "$IMAGE" $((ms / 1000)) $((ms % 1000 / 100))
}

start_failed() {
    trap - EXIT HUP INT TERM
    [ -s "$state/start.log" ] && { echo "---- $prog: podman said:" >&2; tail -n 40 "$state/start.log" >&2; }
    do_stop
    exit 1
}

do_status() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$ns" ] && podman_ready
}

do_cmd() {
    mnt_ready || die "podman's mount namespace is gone ($mntns)"
    in_podman "$@"
}

tool_main "$action" "$@"
