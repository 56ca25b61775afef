#!/bin/bash
# make install into a staging directory (DESTDIR), default PREFIX (/usr/local), from the artefacts
# `make deb` / `make release man completions` left in .build (it builds nothing itself):
#
#   Tests/tools/install-test.sh
#
# Checks: exactly the expected files, with their modes; the unit's ExecStart rewritten to
# /usr/local/bin/fwtrace; the installed binary's --version is Version.swift's; a second
# install keeps an edited /etc/fwtrace/fwtrace.toml. Prints `ok ...` lines and `install-test: PASS`
# (exit 0), or `FAIL ...` (exit 1). The staging directory is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "FAIL $*" >&2; exit 1; }
stage=$(mktemp -d /tmp/fwt-deb-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
inst() { make --no-print-directory -s -o release -o man -o completions install DESTDIR="$stage" "$@" >/dev/null; }
inst || fail "make install DESTDIR=$stage"

expected='/etc/fwtrace/fwtrace.toml 644
/etc/logrotate.d/fwtrace 644
/usr/local/bin/fwtrace 755
/usr/local/lib/systemd/system/fwtrace.service 644
/usr/local/lib/sysusers.d/fwtrace.conf 644
/usr/local/lib/tmpfiles.d/fwtrace.conf 644
/usr/local/share/bash-completion/completions/fwtrace 644
/usr/local/share/doc/fwtrace/README.md 644
/usr/local/share/doc/fwtrace/benchmarks.md 644
/usr/local/share/doc/fwtrace/control-protocol.md 644
/usr/local/share/doc/fwtrace/decisions.md 644
/usr/local/share/doc/fwtrace/hints.md 644
/usr/local/share/doc/fwtrace/log-pipelines.md 644
/usr/local/share/doc/fwtrace/output.md 644
/usr/local/share/doc/fwtrace/schema/fwtrace-1.schema.json 644
/usr/local/share/doc/fwtrace/systemd.md 644
/usr/local/share/fish/vendor_completions.d/fwtrace.fish 644
/usr/local/share/man/man1/fwtrace.1.gz 644
/usr/local/share/zsh/site-functions/_fwtrace 644'
got=$(cd "$stage" && find . -type f -printf '/%P %m\n' | sort)
diff <(echo "$expected") <(echo "$got") >&2 || fail "make install laid out other files than expected (diff above: < expected, > installed)"
echo "ok make install DESTDIR PREFIX=/usr/local: the $(echo "$got" | wc -l) expected files, modes as expected"

grep -qx 'ExecStart=/usr/local/bin/fwtrace daemon --config /etc/fwtrace/fwtrace.toml' "$stage/usr/local/lib/systemd/system/fwtrace.service" \
    || fail "the installed unit's ExecStart is not /usr/local/bin/fwtrace"
echo "ok the unit's ExecStart is \$(BINDIR)/fwtrace"

version=$(sed -n 's/^public let fwtraceVersion = "\(.*\)"$/\1/p' Sources/FWTraceCLI/Version.swift)
got=$("$stage/usr/local/bin/fwtrace" --version)
[ -n "$version" ] && [ "$got" = "$version" ] || fail "installed fwtrace --version says '$got', Version.swift says '$version'"
echo "ok installed fwtrace --version: $got"

echo "# edited by the admin" >> "$stage/etc/fwtrace/fwtrace.toml"
inst || fail "second make install"
grep -q '^# edited by the admin$' "$stage/etc/fwtrace/fwtrace.toml" || fail "a second make install overwrote an edited fwtrace.toml"
echo "ok a second make install keeps an edited /etc/fwtrace/fwtrace.toml"
echo "install-test: PASS"
