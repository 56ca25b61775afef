# fwtrace: the two commands of the README, and what they need.
#   sudo make demo   install the Debian packages, build, run the self-contained demo
#   sudo make test   install the Debian packages, build, run every test (root: real kernel, namespaces)

SWIFT ?= swift
BIN   := .build/debug/fwtrace

# Debian 12 packages: libraries to build against, tools the demo and the tests drive (the daemon's
# tests: useradd from passwd, systemd-analyze/journald, systemd-nspawn, rsyslog as the collector;
# firewalld, run only inside a test namespace by Tests/tools/firewalld-netns.sh, with dbus-daemon;
# valgrind for libnftables' use of freed memory;
# make deb: dpkg-shlibdeps from dpkg-dev, lintian; its test: debootstrap for a Debian 12 root).
# The firewall managers of issue 14, each run only inside a test namespace by its harness in
# Tests/tools/ (never on the host): ufw (ufw-netns.sh); fail2ban (fail2ban-netns.sh, its server with
# an iptables action); podman with netavark as its network backend, aardvark-dns (netavark's DNS,
# recommended by netavark), conmon (pulled in by podman), runc as its OCI runtime, and busybox-static
# for the one static binary of the test image podman-netns.sh builds (no registry here); shorewall
# and shorewall6 (shorewall-netns.sh). ulogd2 and its JSON output (ulogd2-json): the peer of the
# legacy rows of `make bench`, run only inside the bench's namespace with its own config. prometheus
# (the server that scrapes the daemon's metrics in the fleet tests, on loopback with its own config and
# data directory) and systemd-journal-remote (systemd-journal-remote and -upload, the fleet tests'
# central journal, each run by the test in its namespaces).
PACKAGES := pkg-config libmnl-dev libnftables-dev libnftables1 libnetfilter-log-dev libnfnetlink-dev \
            nftables iptables iproute2 util-linux conntrack python3 python3-jsonschema \
            passwd procps systemd systemd-container rsyslog firewalld dbus-daemon valgrind \
            dpkg-dev lintian debootstrap binutils \
            ufw fail2ban podman netavark aardvark-dns runc busybox-static shorewall shorewall6 \
            ulogd2 ulogd2-json prometheus systemd-journal-remote

# Units of those packages that their postinst enables (or may): `make deps` disables each one that
# exists after it installed packages, and fails if one of them is active on the host.
HOST_UNITS := firewalld.service ufw.service fail2ban.service shorewall.service shorewall6.service \
              podman.service podman.socket podman-restart.service podman-auto-update.service \
              podman-auto-update.timer podman-clean-transient.service ulogd2.service \
              prometheus.service systemd-journal-remote.socket systemd-journal-remote.service \
              systemd-journal-upload.service

.PHONY: all deps build demo test test-core fuzz fuzz-run fuzz-build fuzz-long size-check capture-fixtures capture-owner-fixtures owner-harness-test bench clean release man completions install deb package-test

all: build

# No package may start a service on this machine: during the install a /usr/sbin/policy-rc.d that
# refuses everything (exit 101) stands in place, made here and removed after only if there was none
# (an existing one is kept, and must refuse the start of each unit of HOST_UNITS). firewalld's postinst also enables
# firewalld.service (it would take over the host's firewall at the next boot of a systemd host), and
# ufw's, fail2ban's, shorewall's and podman's enable theirs: when this target installed packages, it
# disables every unit of HOST_UNITS that exists (`systemctl disable` starts nothing).
POLICY_RC := /usr/sbin/policy-rc.d

deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	missing=$$(echo $$missing); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then echo "missing packages: $$missing (run as root: sudo make $(MAKECMDGOALS))" >&2; exit 1; fi; \
	    made_policy=; \
	    trap '[ -z "$$made_policy" ] || rm -f $(POLICY_RC)' EXIT; trap 'exit 130' HUP INT TERM; \
	    if [ -e $(POLICY_RC) ] || [ -L $(POLICY_RC) ]; then \
	        for u in $(HOST_UNITS); do \
	            $(POLICY_RC) "$$u" start >/dev/null 2>&1; rc=$$?; \
	            if [ $$rc != 101 ]; then echo "$(POLICY_RC) exists and does not refuse $$u's start (exit $$rc, not 101): not installing" >&2; exit 1; fi; \
	        done; \
	    else \
	        printf '#!/bin/sh\n# made by fwtrace make deps for the length of its apt-get install: no service starts\nexit 101\n' > $(POLICY_RC) && \
	        chmod 755 $(POLICY_RC) && made_policy=1 || exit 1; \
	    fi; \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	    for u in $(HOST_UNITS); do \
	        [ -n "$$(systemctl list-unit-files --no-legend "$$u" 2>/dev/null)" ] || continue; \
	        systemctl disable "$$u" 2>&1 | grep -v '^Synchronizing state\|^Executing: \|^Removed ' >&2; \
	        if [ "$$(systemctl is-active "$$u" 2>/dev/null)" = active ]; then echo "$$u is active on this host" >&2; exit 1; fi; \
	    done; \
	fi

build:
	$(SWIFT) build

demo: deps build
	$(BIN) demo

# The whole suite: the size check (size-check, below), the harnesses of issue 14 (owner-harness-test, below), pure tests from captured kernel bytes, then end-to-end tests that make
# their own network namespaces (they need root and fail without it), then each fuzz target for
# FUZZ_TIME + FUZZ_ASAN_TIME seconds (fuzz, below), then the Debian package built and installed into a fresh
# Debian 12 root (package-test, below).
test: deps
	$(MAKE) --no-print-directory size-check
	$(MAKE) --no-print-directory owner-harness-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --disable-swift-testing
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory package-test

# The harnesses of issue 14 (Tests/tools/{ufw,podman,fail2ban,shorewall}-netns.sh), each started and
# stopped twice, in a namespace it makes and in a given one, and nothing left after (20 s, root).
owner-harness-test: deps
	Tests/tools/owner-harness-test.sh

# Re-captures Tests/FWTraceCoreTests/Fixtures/owners/ (the real tools, each in its namespaces).
capture-owner-fixtures: deps build
	Tests/tools/capture-owner-fixtures.sh --fwtrace $(BIN)

# --- fuzzing (docs/fuzzing.md) --------------------------------------------------------------------
# libFuzzer targets over FWTraceCore: nft-decoder, nflog-decoder, pipeline, metrics-request (the
# daemon's metrics listener's request head) (Fuzz/FuzzTargets.swift).
# FWTraceCore is pure Swift; FWTraceNflog adds libnetfilter_log (the legacy decoder, its offline
# handle needs root). Their sources and Fuzz/FuzzTargets.swift are compiled by swiftc into one
# instrumented static library (libFuzzer ships with the Swift toolchain), each Fuzz/Entry/%.swift
# links it into a target. Seeds are made from the captured fixtures under .build (never in the
# repo), plus every kept regression input. `make fuzz` (part of `test`) runs each target
# FUZZ_TIME s as built plain (fast: Swift's own checks trap), then FUZZ_ASAN_TIME s built with
# ASan+LSan (slow, but it sees the reads through UnsafeBufferPointer that -O leaves unchecked),
# and fails on any crash, leak, timeout or out-of-memory. `make fuzz-run` runs one build
# (FUZZ_SANITIZE=fuzzer or fuzzer,address); `make fuzz-long` runs each target FUZZ_LONG_RUNS times.
SWIFTC         ?= swiftc
FUZZ_SANITIZE  ?= fuzzer
FUZZ_TIME      ?= 60
FUZZ_ASAN_TIME ?= 30
FUZZ_LONG_RUNS ?= 10000000
FUZZ_TARGETS   := nft-decoder nflog-decoder pipeline metrics-request
comma          := ,
FUZZ_DIR       := .build/fuzz/$(subst $(comma),-,$(FUZZ_SANITIZE))
FUZZ_FIXTURES  := Tests/FWTraceCoreTests/Fixtures
FUZZ_CORE      := $(shell find Sources/FWTraceCore Sources/FWTraceNflog -name '*.swift' | sort) Fuzz/FuzzTargets.swift

$(FUZZ_DIR)/lib/libFWTraceFuzz.a: $(FUZZ_CORE)
	mkdir -p $(FUZZ_DIR)/lib
	$(SWIFTC) -sanitize=$(FUZZ_SANITIZE) -parse-as-library -O -wmo -D FWTRACE_FUZZ_SINGLE_MODULE -I Sources/CNetfilter \
	    -module-name FWTraceFuzz -emit-module -emit-module-path $(FUZZ_DIR)/lib/FWTraceFuzz.swiftmodule \
	    -emit-library -static -o $@ $(FUZZ_CORE)

$(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS)): $(FUZZ_DIR)/%: $(FUZZ_DIR)/lib/libFWTraceFuzz.a Fuzz/Entry/%.swift
	$(SWIFTC) -sanitize=$(FUZZ_SANITIZE) -parse-as-library -O -I $(FUZZ_DIR)/lib -I Sources/CNetfilter -L $(FUZZ_DIR)/lib -lFWTraceFuzz \
	    -lnetfilter_log -lnfnetlink -lmnl \
	    Fuzz/Entry/$*.swift -o $@

fuzz-build: $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

# $(1): seconds per target; $(2): more environment for Fuzz/run.sh (FUZZ_RUNS; FUZZ_DICT is set here).
define fuzz_run
	rm -rf $(FUZZ_DIR)/seeds && /usr/bin/python3 Fuzz/make-seeds.py $(FUZZ_FIXTURES) $(FUZZ_DIR)/seeds >/dev/null
	set -e; for t in $(FUZZ_TARGETS); do \
	    $(2) FUZZ_DICT=$$([ -f Fuzz/$$t.dict ] && echo Fuzz/$$t.dict) FWTRACE_FUZZ_FIXTURES=$(FUZZ_FIXTURES) \
	    Fuzz/run.sh $(FUZZ_DIR)/$$t $(1) $(FUZZ_DIR)/run-$$t $(FUZZ_DIR)/seeds/$$t $(FUZZ_FIXTURES)/fuzz-regressions/$$t; \
	done
endef

fuzz:
	$(MAKE) --no-print-directory fuzz-run FUZZ_SANITIZE=fuzzer FUZZ_TIME=$(FUZZ_TIME)
	$(MAKE) --no-print-directory fuzz-run FUZZ_SANITIZE=fuzzer,address FUZZ_TIME=$(FUZZ_ASAN_TIME)

fuzz-run: fuzz-build
	$(call fuzz_run,$(FUZZ_TIME))

fuzz-long: fuzz-build
	$(call fuzz_run,86400,FUZZ_RUNS=$(FUZZ_LONG_RUNS))

# Swift sources over 400 lines, functions over 60, without a `// size:` comment saying why
# (Tests/tools/size-check; its own test first). The first step of `test`: it needs no build.
size-check:
	Tests/tools/size-check-test.sh
	/usr/bin/python3 Tests/tools/size-check Sources

# Only the tests of bytes in, values out (no traced namespace; root for the legacy decoding, whose
# libnetfilter_log handle is bound in a private network namespace).
test-core:
	$(SWIFT) test --disable-swift-testing --filter FWTraceCoreTests

# Re-captures the decoder fixtures from this machine's kernel (root).
capture-fixtures: build
	Tests/tools/capture-fixtures.sh $(BIN)

clean:
	rm -rf .build

# Benchmarks (root, ~20 minutes): offline pipeline and live side by side with nft monitor trace
# (bench/run.py), then the legacy backend side by side with ulogd2 (bench/legacy.py), then the
# daemon with file, journald and socket sinks at once, its RSS over 10 minutes and journald's own
# rate limit (bench/daemon.py; --rss-minutes N for a shorter run). Prints the tables and regenerates
# bench/results.json, bench/results-legacy.json, bench/results-daemon.json and docs/benchmarks.md.
bench: deps
	$(SWIFT) build -c release --product fwtrace
	$(SWIFT) build -c release --product fwtrace-bench
	/usr/bin/python3 bench/run.py
	/usr/bin/python3 bench/legacy.py
	/usr/bin/python3 bench/daemon.py

# --- release binary, man page, completions, install, Debian package ------------------------------
# The version is written once, in Sources/FWTraceCLI/Version.swift (what `fwtrace --version` prints).
VERSION := $(shell sed -n 's/^public let fwtraceVersion = "\(.*\)"$$/\1/p' Sources/FWTraceCLI/Version.swift)
RELEASE_BIN := .build/release/fwtrace
GEN := .build/fwtrace-generated

# The Swift runtime, Foundation and ArgumentParser linked in statically: the binary needs nothing
# under /opt/swift (no libswift*/libFoundation* NEEDED) and has no RUNPATH at all (SwiftPM's
# $$ORIGIN is left out too); libnftables is dlopen()ed, not linked.
release:
	$(SWIFT) build -c release --product fwtrace --static-swift-stdlib --disable-local-rpath

# fwtrace.1 from ArgumentParser's generate-manual plugin (works offline: it is part of the
# swift-argument-parser checkout): one page, every subcommand in it, dated by the last commit so
# that two builds of a commit give the same page. It runs the debug build's --experimental-dump-help
# (the same help as the release binary, and it leaves .build/release alone). The blank lines of
# the help's paragraphs become .Pp (a blank line is not mdoc: groff warns, and so does lintian).
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
man:
	rm -rf $(GEN)/man && mkdir -p $(GEN)/man
	$(SWIFT) package generate-manual --configuration debug --date $(MAN_DATE) \
	    --authors 'fwtrace maintainers<maintainers@users.noreply.r-seed-77de54b6.example>'
	sed 's/^$$/.Pp/' .build/plugins/GenerateManual/outputs/fwtrace/fwtrace.1 > $(GEN)/man/fwtrace.1
	test -s $(GEN)/man/fwtrace.1

completions: release
	mkdir -p $(GEN)/completions
	$(RELEASE_BIN) --generate-completion-script bash | sed '1{/^#!/d}' > $(GEN)/completions/fwtrace.bash
	$(RELEASE_BIN) --generate-completion-script zsh  > $(GEN)/completions/_fwtrace
	$(RELEASE_BIN) --generate-completion-script fish > $(GEN)/completions/fwtrace.fish

# make install [PREFIX=/usr/local] [DESTDIR=]: the files the Debian package ships, for any
# distribution. The unit's ExecStart is rewritten to $(BINDIR)/fwtrace. /etc stays /etc whatever
# the PREFIX (the unit and the docs name /etc/fwtrace/fwtrace.toml). systemd reads units,
# sysusers.d and tmpfiles.d under /usr/local/lib too. An existing config is not overwritten.
# After a non-package install, as root: systemd-sysusers fwtrace.conf; systemd-tmpfiles --create
# fwtrace.conf; systemctl daemon-reload (the Debian package's postinst does this).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
DOCDIR       ?= $(PREFIX)/share/doc/fwtrace
SYSCONFDIR   ?= /etc
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR  ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR  ?= $(PREFIX)/share/fish/vendor_completions.d
DOCS := README.md docs/decisions.md docs/output.md docs/hints.md docs/control-protocol.md \
        docs/log-pipelines.md docs/benchmarks.md

install: release man completions
	install -D -m 0755 -s $(RELEASE_BIN) $(DESTDIR)$(BINDIR)/fwtrace
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1
	gzip -9n < $(GEN)/man/fwtrace.1 > $(DESTDIR)$(MANDIR)/man1/fwtrace.1.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/fwtrace.1.gz
	install -D -m 0644 $(GEN)/completions/fwtrace.bash $(DESTDIR)$(BASHCOMPDIR)/fwtrace
	install -D -m 0644 $(GEN)/completions/_fwtrace $(DESTDIR)$(ZSHCOMPDIR)/_fwtrace
	install -D -m 0644 $(GEN)/completions/fwtrace.fish $(DESTDIR)$(FISHCOMPDIR)/fwtrace.fish
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's#^ExecStart=/usr/bin/fwtrace #ExecStart=$(BINDIR)/fwtrace #' systemd/fwtrace.service > $(DESTDIR)$(UNITDIR)/fwtrace.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/fwtrace.service
	grep -q '^ExecStart=$(BINDIR)/fwtrace ' $(DESTDIR)$(UNITDIR)/fwtrace.service
	install -D -m 0644 systemd/fwtrace.sysusers $(DESTDIR)$(SYSUSERSDIR)/fwtrace.conf
	install -D -m 0644 systemd/fwtrace.tmpfiles $(DESTDIR)$(TMPFILESDIR)/fwtrace.conf
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/fwtrace $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	[ -e $(DESTDIR)$(SYSCONFDIR)/fwtrace/fwtrace.toml ] || install -m 0644 config/fwtrace.toml $(DESTDIR)$(SYSCONFDIR)/fwtrace/fwtrace.toml
	install -m 0644 config/fwtrace.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/fwtrace
	install -d -m 0755 $(DESTDIR)$(DOCDIR)/schema
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 systemd/README.md $(DESTDIR)$(DOCDIR)/systemd.md
	install -m 0644 docs/schema/* $(DESTDIR)$(DOCDIR)/schema/

# make deb: fwtrace_$(VERSION)_amd64.deb in the current directory, from `make install` into a
# staging tree (PREFIX=/usr, Debian's zsh directory), with Depends computed by dpkg-shlibdeps
# (packaging/deb/build-deb.sh says what else it depends on and why). lintian must report no error.
DEBROOT := .build/deb-root
deb: release man completions
	rm -rf $(DEBROOT)
	$(MAKE) --no-print-directory -o release -o man -o completions install DESTDIR=$(CURDIR)/$(DEBROOT) PREFIX=/usr ZSHCOMPDIR=/usr/share/zsh/vendor-completions
	packaging/deb/build-deb.sh $(DEBROOT) $(VERSION) .
	lintian --fail-on error fwtrace_$(VERSION)_$$(dpkg --print-architecture).deb

# make install's layout (install-test.sh), then the package installed into a fresh Debian 12 root
# (debootstrap, cached under .build) with no Swift toolchain in it: --version, demo, man,
# completion, systemd-analyze verify, purge (package-test.sh; root).
package-test: deb
	Tests/tools/install-test.sh
	Tests/tools/package-test.sh fwtrace_$(VERSION)_$$(dpkg --print-architecture).deb
