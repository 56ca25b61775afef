#!/bin/bash
# The Debian package, installed the way a user installs it, into a Debian 12 root where no Swift
# toolchain exists (root):
#
#   Tests/tools/package-test.sh <fwtrace_VERSION_amd64.deb>
#
# 1. A bookworm root (debootstrap --variant=minbase, plus man-db to read the page) made from the
#    mirror the host's apt uses, cached as a tarball under .build/package-test/ (a first run on a
#    fresh machine makes it: 1-3 minutes; later runs unpack it in seconds). Each run unpacks a
#    fresh copy, so a test never sees a previous one's leftovers. Downloaded .debs are cached too.
# 2. Every step runs chroot'ed in a private mount namespace (unshare -m) with /proc, /sys, /dev
#    and a tmpfs /run of its own; the steps that need no network also get a network namespace of
#    their own (unshare -n): the demo's namespaces hang off that one, never off the host's. When a
#    step's process ends, its mounts and namespaces are gone: nothing is mounted on the host, no
#    network namespace is left, and nothing is installed on the host.
# 3. In the root: `apt-get install ./fwtrace_*.deb` (apt resolves Depends from the mirror), then
#    fwtrace --version (= the package's version), no RUNPATH or Swift library in the binary, the
#    group and directories the postinst makes, the service neither enabled nor started, fwtrace
#    demo, man fwtrace, the bash completion, systemd-analyze verify of the installed unit.
# 4. dpkg --purge leaves what README.md says and nothing else: group fwtrace and /run/xtables.lock
#    stay; no path named *fwtrace* anywhere, no statoverride, no enablement symlink. A second
#    install + purge must then give back the root file for file (modes, owners, contents of /etc
#    and /var).
# Output: one `ok ...` line per check, `package-test: PASS` at the end (exit 0); `FAIL ...` and
# exit 1 at the first failure. The unpacked root (under .build/package-test/) is deleted on exit.
set -euo pipefail

deb=$(realpath -e "${1:?usage: $0 <fwtrace_VERSION_ARCH.deb>}")
[ "$(id -u)" = 0 ] || { echo "FAIL package-test needs root (chroot, mount and network namespaces)" >&2; exit 1; }
for tool in debootstrap unshare chroot dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "FAIL $tool not found (make deps installs it)" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
cache=${FWTRACE_PACKAGE_TEST_CACHE:-$here/../../.build/package-test}
mkdir -p "$cache/archives"
cache=$(realpath "$cache")
version=$(dpkg-deb -f "$deb" Version)

# The host's Debian mirror (deb822 or one-line sources), deb.debian.org if none is found.
mirror=$(sed -n 's#^URIs: *\(http[^ ]*/debian\)/\{0,1\} *$#\1#p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's#^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*/debian\)/\{0,1\} bookworm .*#\2#p' /etc/apt/sources.list 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

fail() { echo "FAIL $*" >&2; exit 1; }
ok() { echo "ok $*"; }

base="$cache/bookworm-minbase.tar"
if [ ! -s "$base" ]; then
    echo "package-test: making the Debian 12 root from $mirror (cached in $base)" >&2
    tmpbase=$(mktemp -d "$cache/debootstrap.XXXXXX")
    trap 'rm -rf "$tmpbase"' EXIT
    debootstrap --variant=minbase --include=man-db bookworm "$tmpbase" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/debootstrap.log" >&2; fail "debootstrap (log: $cache/debootstrap.log)"; }
    cat > "$tmpbase/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
    # No service may start in the root (debootstrap's systemd would not anyway: no PID 1).
    printf '#!/bin/sh\nexit 101\n' > "$tmpbase/usr/sbin/policy-rc.d"; chmod 755 "$tmpbase/usr/sbin/policy-rc.d"
    rm -rf "$tmpbase/var/cache/apt/archives/"*.deb
    tar -C "$tmpbase" --numeric-owner -cf "$base.new" . && mv "$base.new" "$base"
    rm -rf "$tmpbase"; trap - EXIT
fi

root=$(mktemp -d "$cache/root.XXXXXX")
trap 'rm -rf --one-file-system "$root"' EXIT
tar -C "$root" --numeric-owner -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
debname=$(basename "$deb")

# in_root [--net] SCRIPT: SCRIPT run by bash in the root, in a private mount namespace (and a
# private network namespace unless --net). /var/cache/apt/archives is the cache's, bound in.
in_root() {
    local net=-n
    if [ "$1" = --net ]; then net=; shift; fi
    unshare -m $net --propagation private /bin/bash -c '
        set -e
        root=$1 cache=$2 script=$3
        # The root a mount point of its own: ip -n and ip netns exec remount / (--make-rslave).
        mount --bind "$root" "$root"
        mount -t proc proc "$root/proc"
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=0755 tmpfs "$root/run"
        mkdir -p "$root/run/lock"
        mount --bind "$cache/archives" "$root/var/cache/apt/archives"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            TERM=dumb DEBIAN_FRONTEND=noninteractive /bin/bash -c "set -euo pipefail; $script"
    ' sh "$root" "$cache" "$1"
}

# Paths, types, modes and owners in the root, and the contents of /etc and /var (what dpkg's
# own bookkeeping, apt's caches and logs do not account for).
snapshot() {
    in_root 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
                 -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log/apt \
                 -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \) -prune -o -printf "%p %y %m %u:%g\n" | sort
             find /etc /var -xdev \( -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log/apt \
                 -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \) -prune -o -type f -print0 | sort -z | xargs -0 md5sum'
}

# --- install -------------------------------------------------------------------------------------
in_root 'test ! -e /opt/swift && ! command -v swift && ! command -v swiftc' || fail "a Swift toolchain is visible in the root"
ok "the root has no Swift toolchain"
before=$(in_root 'dpkg-query -W -f="\${Package}\n" | sort')
in_root --net "apt-get -o APT::Sandbox::User=root update -qq && apt-get -o APT::Sandbox::User=root install -y -qq --no-install-recommends ./tmp/$debname >/tmp/apt.log 2>&1 || { tail -30 /tmp/apt.log; exit 1; }" \
    || fail "apt-get install ./$debname"
after=$(in_root 'dpkg-query -W -f="\${Package}\n" | sort')
pulled=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
for need in fwtrace libnftables1 iptables iproute2 libmnl0 libnetfilter-log1 libnfnetlink0 procps; do
    in_root "dpkg-query -W -f='\${Status}' $need | grep -q 'install ok installed'" || fail "$need not installed with the package (pulled: $pulled)"
done
ok "apt-get install ./$debname (apt pulled: $pulled)"

# --- the binary ----------------------------------------------------------------------------------
got=$(in_root 'fwtrace --version') || fail "fwtrace --version"
[ "$got" = "$version" ] || fail "fwtrace --version says '$got', the package is $version"
ok "fwtrace --version: $got"
elf=$(readelf -d "$root/usr/bin/fwtrace")
if echo "$elf" | grep -E 'R(UN)?PATH|libswift|libFoundation|libdispatch|libBlocksRuntime|libnftables'; then
    fail "/usr/bin/fwtrace still needs the toolchain's libraries or links libnftables (above)"
fi
in_root 'ldd /usr/bin/fwtrace | grep -q "not found" && exit 1 || true' || fail "ldd: a library is missing"
ok "/usr/bin/fwtrace: no RUNPATH, no Swift or libnftables NEEDED, ldd finds every library"

# --- what the postinst made, and did not do --------------------------------------------------------
in_root 'getent group fwtrace >/dev/null' || fail "postinst made no group fwtrace"
in_root 'test "$(stat -c "%U:%G %a" /var/log/fwtrace)" = "root:fwtrace 750"' || fail "/var/log/fwtrace is not root:fwtrace 0750"
in_root 'test "$(stat -c "%U:%G %a" /etc/fwtrace)" = "root:fwtrace 750"' || fail "/etc/fwtrace is not root:fwtrace 0750"
in_root 'test "$(systemctl is-enabled fwtrace.service 2>/dev/null)" = disabled' || fail "fwtrace.service is not 'disabled' after the install"
in_root 'test ! -e /run/fwtrace' || fail "something started the daemon"
in_root 'grep -qx /etc/fwtrace/fwtrace.toml /var/lib/dpkg/info/fwtrace.conffiles && grep -qx /etc/logrotate.d/fwtrace /var/lib/dpkg/info/fwtrace.conffiles' \
    || fail "fwtrace.toml and the logrotate file are not conffiles"
in_root 'fwtrace daemon --check --config /etc/fwtrace/fwtrace.toml >/dev/null' || fail "the shipped config does not pass daemon --check"
ok "group fwtrace, /etc/fwtrace and /var/log/fwtrace root:fwtrace 0750, conffiles, unit disabled and not started, config passes --check"

# --- the demo (its namespaces live under this step's network namespace and /run) -----------------
in_root 'fwtrace demo --skip-managed > /tmp/demo.out 2>&1 || { cat /tmp/demo.out; exit 1; }
         grep -q "shadowed-rule" /tmp/demo.out
         test -z "$(ip netns list)"' || fail "fwtrace demo (output above), or it left a namespace"
ok "fwtrace demo (root, network namespaces; none left)"

# --- man page, completions, unit -------------------------------------------------------------------
in_root 'MANWIDTH=80 man --warnings -P cat fwtrace 2>/tmp/man.err > /tmp/man.out; ! test -s /tmp/man.err || { cat /tmp/man.err; exit 1; }
         grep -q "^NAME" /tmp/man.out && grep -q "fwtrace" /tmp/man.out && grep -q "follow" /tmp/man.out' \
    || fail "man fwtrace does not render"
ok "man fwtrace renders ($(in_root 'MANWIDTH=80 man -P cat fwtrace 2>/dev/null | wc -l') lines, no warnings)"
complete=$(in_root "bash -c 'source /usr/share/bash-completion/completions/fwtrace; complete -p fwtrace'") \
    || fail "the bash completion does not load"
ok "bash completion: $complete"
in_root 'test -s /usr/share/zsh/vendor-completions/_fwtrace && test -s /usr/share/fish/vendor_completions.d/fwtrace.fish' \
    || fail "zsh or fish completion missing"
ok "zsh and fish completions in place"
verify=$(in_root 'mkdir -p /run/systemd; systemd-analyze verify /usr/lib/systemd/system/fwtrace.service 2>&1; echo "exit $?"')
echo "$verify" | grep -q '^exit 0$' && ! echo "$verify" | grep -v '^exit ' | grep -q fwtrace \
    || { echo "$verify" >&2; fail "systemd-analyze verify of the installed unit"; }
in_root 'grep -q "^ExecStart=/usr/bin/fwtrace daemon " /usr/lib/systemd/system/fwtrace.service' || fail "the unit does not run /usr/bin/fwtrace"
ok "systemd-analyze verify /usr/lib/systemd/system/fwtrace.service: nothing about the unit"

# --- purge -----------------------------------------------------------------------------------------
# What a user leaves behind: the unit enabled, a trace log, an edited config.
use_and_purge='systemctl enable fwtrace.service 2>/dev/null
    echo "{}" > /var/log/fwtrace/paths.jsonl
    echo "# edited" >> /etc/fwtrace/fwtrace.toml
    dpkg --purge fwtrace >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }'
in_root "$use_and_purge" || fail "dpkg --purge fwtrace"
left=$(in_root 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \) -prune -o -name "*fwtrace*" -print') || true
[ -z "$left" ] || fail "after dpkg --purge, paths named fwtrace remain: $left"
in_root '! dpkg-statoverride --list | grep -q fwtrace' || fail "a statoverride for fwtrace remains"
in_root 'getent group fwtrace >/dev/null' || fail "the group fwtrace was removed (README.md says it stays)"
ok "dpkg --purge: no path named *fwtrace*, no statoverride, no enablement link; group fwtrace stays (as documented)"
s1=$(snapshot)
in_root "dpkg -i /tmp/$debname >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
         $use_and_purge" || fail "second install and purge"
s2=$(snapshot)
if ! diff <(echo "$s1") <(echo "$s2") >&2; then fail "a second install + purge changed the root (diff above)"; fi
ok "a second install + purge gives back the root exactly (paths, modes, owners, /etc and /var contents)"
echo "package-test: PASS"
