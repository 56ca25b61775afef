// swift-tools-version:6.0
import PackageDescription

// The per-event code (decode, assemble, hints, JSON) keeps its state in classes; in a release build
// every access to such a property paid a dynamic exclusivity check (swift_beginAccess, about 5 % of
// the offline pipeline). Debug builds, and so the tests, keep the checks.
let fastPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "fwtrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fwtrace", targets: ["fwtrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // TOML 1.0 (toml++ underneath) for the daemon's configuration.
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        // The daemon's Prometheus metrics (counters, gauges, the text exposition format); it needs
        // only swift-atomics and swift-metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        // C boundary: only FWTraceKernel imports these (the daemon reaches the system through
        // FWTraceKernel's System/ types).
        .systemLibrary(
            name: "CNetfilter",
            pkgConfig: "libmnl",
            providers: [.apt(["libmnl-dev", "libnetfilter-log-dev", "libnfnetlink-dev"])]
        ),
        // Header only, no pkgConfig: pkg-config's `-lnftables` would put NEEDED libnftables.so.1 in
        // the binary, and the dynamic loader would then refuse to start fwtrace (even --version)
        // where libnftables is missing. FWTraceKernel loads it with dlopen instead (Nftables.swift);
        // the header is in /usr/include/nftables, found without any -I.
        .systemLibrary(
            name: "CNftables",
            providers: [.apt(["libnftables-dev"])]
        ),
        // Pure Swift: wire decoding, filters, path assembly, rule catalog, JSON. No C import
        // (nfnetlink_log messages are decoded by FWTraceNflog, injected).
        .target(name: "FWTraceCore", swiftSettings: fastPath),
        // The legacy backend's messages through libnetfilter_log (nflog_handle_packet and its
        // accessors) into Core's model: the one decoder of nfnetlink_log, live and offline.
        .target(name: "FWTraceNflog", dependencies: ["FWTraceCore", "CNetfilter"]),
        // Netlink sockets, libnftables, namespaces, processes.
        .target(name: "FWTraceKernel", dependencies: ["FWTraceCore", "FWTraceNflog", "CNetfilter", "CNftables"]),
        // The commands, as a library so tests can reach them.
        .target(name: "FWTraceCLI", dependencies: [
            "FWTraceCore", "FWTraceKernel", "FWTraceNflog", "FWTraceDaemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The daemon: config, watches, sinks, control socket, lifecycle.
        .target(name: "FWTraceDaemon", dependencies: [
            "FWTraceCore", "FWTraceKernel",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "fwtrace", dependencies: ["FWTraceCLI"]),
        // The offline pipeline benchmark (make bench); not installed.
        .executableTarget(name: "fwtrace-bench", dependencies: ["FWTraceCore"]),
        .testTarget(name: "FWTraceCoreTests", dependencies: ["FWTraceCore", "FWTraceNflog"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FWTraceDaemonTests", dependencies: ["FWTraceDaemon"]),
        // FWTraceKernel: a few tests call libnftables in process (RulesetReader in a namespace).
        .testTarget(name: "FWTraceEndToEndTests", dependencies: ["FWTraceCore", "FWTraceKernel"]),
    ]
)
