#!/bin/bash
# Makes fwtrace_<version>_amd64.deb from a tree that `make install DESTDIR=<root> PREFIX=/usr`
# laid out: adds the Debian-only files (copyright, changelog, maintainer scripts, control with
# computed Depends) and builds it with dpkg-deb, files owned by root.
#
#   packaging/deb/build-deb.sh <root> <version> <output-dir>
#
# Depends: what dpkg-shlibdeps finds for /usr/bin/fwtrace (its NEEDED libraries: libc, libmnl,
# libnetfilter-log, libnfnetlink, libstdc++, libgcc; the Swift runtime is linked in statically),
# plus what fwtrace runs or loads that no linker sees:
#   libnftables1  dlopen()ed at run time by the nft backend (the default on Debian 12) and explain
#   iptables      iptables-nft-save (rule numbers and iptables syntax), iptables-legacy,
#                 ip6tables-legacy and their -save (the legacy backend), iptables-nft (the demo)
#   iproute2      ip: the demo's namespaces, explain's local addresses
#   systemd | systemd-sysusers ...  postinst runs systemd-sysusers (as debhelper's dh_installsysusers
#                 would); systemd-tmpfiles for the unit's ExecStartPre
#   procps        /bin/kill, the unit's ExecReload
# Recommends: conntrack (only the helper-missing hint reads the conntrack table; without it that
# hint is not given).
set -euo pipefail
[ $# = 3 ] || { echo "usage: $0 <root> <version> <output-dir>" >&2; exit 2; }
root=$(realpath -e "$1"); version=$2; out=$(realpath -e "$3")
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture)
[ -x "$root/usr/bin/fwtrace" ] || { echo "build-deb: $root/usr/bin/fwtrace missing (make install DESTDIR=$root PREFIX=/usr)" >&2; exit 1; }

doc="$root/usr/share/doc/fwtrace"
install -d -m 0755 "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
# A native package's changelog (lintian wants one). Its date is the last commit's, so two builds
# of one commit give the same file.
date=$(git -C "$here" log -1 --format=%cD 2>/dev/null || date -R)
printf 'fwtrace (%s) unstable; urgency=medium\n\n  * Version %s; the changes are in the project'"'"'s git history.\n\n -- %s  %s\n' \
    "$version" "$version" "$(sed -n 's/^Upstream-Contact: //p' "$here/copyright")" "$date" \
    | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# dpkg-shlibdeps reads debian/control of the source it is run in: give it a minimal one.
work=$(mktemp -d /tmp/fwt-deb-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debian"
printf 'Source: fwtrace\n\nPackage: fwtrace\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$root/usr/bin/fwtrace" 2>"$work/shlibdeps.err") \
    || { cat "$work/shlibdeps.err" >&2; exit 1; }
shlibs=${shlibs#shlibs:Depends=}
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }

install -d -m 0755 "$root/DEBIAN"
for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
# Every file under /etc is a conffile.
(cd "$root" && find etc -type f | sort | sed 's#^#/#') > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: fwtrace
Version: $version
Architecture: $arch
Maintainer: $(sed -n 's/^Upstream-Contact: //p' "$here/copyright")
Installed-Size: $size
Depends: $shlibs, libnftables1, iptables, iproute2, systemd | systemd-standalone-sysusers | systemd-sysusers, procps
Recommends: conntrack
Section: net
Priority: optional
Description: trace packets through the Linux firewall, live
 fwtrace installs temporary, rate-limited trace rules for exactly the traffic
 you name, receives the kernel's trace events (nftables trace over netlink, or
 iptables-legacy TRACE through nfnetlink_log) and prints each packet's path
 through tables, chains and rules, with the verdict and the rule that decided
 it, as text or JSON lines. Hints point out classic mistakes (a shadowed
 ACCEPT, a port opened in INPUT for a forwarded packet, nothing listening).
 .
 The package also ships fwtrace daemon as a hardened systemd service (not
 enabled or started on install) that keeps configured watches running and
 streams their paths to the journal, a file or a collector.
CONTROL
chmod 0644 "$root/DEBIAN/control"
deb="$out/fwtrace_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
