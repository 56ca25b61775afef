import FWTraceCore

/// `[metrics]` (docs/metrics.md): where the daemon's Prometheus metrics listen.
extension DaemonConfig {
    static func readMetrics(_ reader: inout TableReader, into config: inout DaemonConfig) throws {
        guard let listen = try reader.string("listen") else {
            throw reader.missing("listen", "\"tcp:127.0.0.1:PORT\" or \"unix:/run/fwtrace/metrics.sock\", where Prometheus scrapes (remove [metrics] for no metrics)")
        }
        let address: CollectorAddress
        do { address = try CollectorAddress.parse(listen) } catch let e as CollectorAddress.Invalid {
            throw reader.error("listen", e.message.replacingOccurrences(of: "fwtrace sends only to a local collector (127.0.0.1 or ::1), which forwards", with: "metrics listen on loopback only (127.0.0.1 or ::1): scrape them with a Prometheus on the host (agent mode forwards), docs/metrics.md"))
        }
        var metrics = Metrics(listen: address)
        metrics.topRules = try reader.integer("top_rules", in: 1...1000) ?? metrics.topRules
        try reader.finish(known: ["listen", "top_rules"])
        config.metrics = metrics
    }

    /// A unix listen path must be the metrics' own: not the control socket's, not a sink's.
    func checkMetricsPath(file: String) throws {
        guard case .unix(let path)? = metrics?.listen else { return }
        let taken = [(settings.socketPath, "the control socket")] + sinks.map { ($0.kind == .socket ? String($0.target.dropFirst(5)) : $0.target, "sink '\($0.name)'") }
        if let (_, what) = taken.first(where: { $0.0 == path }) {
            throw ConfigError(file: file, line: keyLines["metrics.listen"] ?? 0, message: "[metrics] listen = \"unix:\(path)\" is \(what)'s path too: give the metrics a path of their own, like unix:/run/fwtrace/metrics.sock")
        }
    }
}
