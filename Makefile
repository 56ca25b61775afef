# fwtrace: the two commands of the README, and what they need.
#   sudo make demo   install the Debian packages, build, run the self-contained demo
#   sudo make test   install the Debian packages, build, run every test (root: real kernel, namespaces)

SWIFT ?= swift
BIN   := .build/debug/fwtrace

# Debian 12 packages: libraries to build against, tools the demo and the tests drive (the daemon's
# tests: useradd from passwd, systemd-analyze/journald, systemd-nspawn, rsyslog as the collector,
# valgrind for libnftables' use of freed memory).
PACKAGES := pkg-config libmnl-dev libnftables-dev libnftables1 libnetfilter-log-dev libnfnetlink-dev \
            nftables iptables iproute2 util-linux conntrack python3 python3-jsonschema \
            passwd systemd systemd-container rsyslog valgrind

.PHONY: all deps build demo test test-core capture-fixtures bench clean

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then echo "missing packages: $$missing (run as root: sudo make $(MAKECMDGOALS))" >&2; exit 1; fi; \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
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
