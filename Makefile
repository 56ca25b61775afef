# fwtrace: the two commands of the README, and what they need.
#   sudo make demo   install the Debian packages, build, run the self-contained demo
#   sudo make test   install the Debian packages, build, run every test (root: real kernel, namespaces)

SWIFT ?= swift
BIN   := .build/debug/fwtrace

# Debian 12 packages: libraries to build against, tools the demo and the tests drive (the daemon's
# tests: useradd from passwd, systemd-analyze/journald, systemd-nspawn, rsyslog as the collector;
# firewalld, run only inside a test namespace by Tests/tools/firewalld-netns.sh, with dbus-daemon).
PACKAGES := pkg-config libmnl-dev libnftables-dev libnftables1 libnetfilter-log-dev libnfnetlink-dev \
            nftables iptables iproute2 util-linux conntrack python3 python3-jsonschema \
            passwd procps systemd systemd-container rsyslog firewalld dbus-daemon

.PHONY: all deps build demo test test-core capture-fixtures bench clean

all: build

# No package may start a service on this machine: during the install a /usr/sbin/policy-rc.d that
# refuses everything (exit 101) stands in place, made here and removed after only if there was none
# (an existing one is kept, and must refuse firewalld's start). firewalld's postinst also enables
# firewalld.service (it would take over the host's firewall at the next boot of a systemd host): when
# this target installed firewalld, it disables the unit again (`systemctl disable` starts nothing).
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
	        if echo " $$missing " | grep -q ' firewalld '; then \
	            $(POLICY_RC) firewalld.service start >/dev/null 2>&1; rc=$$?; \
	            if [ $$rc != 101 ]; then echo "$(POLICY_RC) exists and does not refuse firewalld's start (exit $$rc, not 101): not installing firewalld" >&2; exit 1; fi; \
	        fi; \
	    else \
	        printf '#!/bin/sh\n# made by fwtrace make deps for the length of its apt-get install: no service starts\nexit 101\n' > $(POLICY_RC) && \
	        chmod 755 $(POLICY_RC) && made_policy=1 || exit 1; \
	    fi; \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	    if echo " $$missing " | grep -q ' firewalld '; then \
	        systemctl disable firewalld.service 2>&1 | grep -v '^Synchronizing state\|^Executing: ' >&2; \
	        if [ "$$(systemctl is-active firewalld.service 2>/dev/null)" = active ]; then echo "firewalld.service is active on this host" >&2; exit 1; fi; \
	    fi; \
	fi

build:
	$(SWIFT) build

demo: deps build
	$(BIN) demo

# The whole suite: pure tests from captured kernel bytes, then end-to-end tests that make
# their own network namespaces (they need root and fail without it).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --disable-swift-testing

# Only the tests that need neither root nor a kernel.
test-core:
	$(SWIFT) test --disable-swift-testing --filter FWTraceCoreTests

# Re-captures the decoder fixtures from this machine's kernel (root).
capture-fixtures: build
	Tests/tools/capture-fixtures.sh $(BIN)

clean:
	rm -rf .build

# Benchmarks (root, ~2-5 minutes): offline pipeline and live side by side with nft monitor trace.
# Prints a table and regenerates bench/results.json and docs/benchmarks.md.
bench: deps
	$(SWIFT) build -c release --product fwtrace
	$(SWIFT) build -c release --product fwtrace-bench
	/usr/bin/python3 bench/run.py
