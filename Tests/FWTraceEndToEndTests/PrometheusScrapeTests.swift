import Foundation
import XCTest

/// The daemon's metrics scraped by the real Prometheus server (Debian's prometheus, run here on
/// loopback with its own config and data directory): a PromQL query through its HTTP API gives
/// the same drops by rule as the records the file sink wrote.
final class PrometheusScrapeTests: XCTestCase {
    override func setUpWithError() throws { try E2E.requireRoot() }

    func testPrometheusCountsTheSameDropsByRuleAsTheFileSink() throws {
        let prometheusBinary = "/usr/bin/prometheus"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: prometheusBinary), "prometheus is missing: apt-get install prometheus (make deps)")
        guard FileManager.default.isExecutableFile(atPath: prometheusBinary) else { return }
        let lab = try TestLab("prom")
        defer { lab.destroy() }
        // Two drop rules, an accept, and the policy's drop for the rest.
        try E2E.applyNft("""
        table inet filter {
          chain input {
            type filter hook input priority filter; policy drop;
            udp dport 7101 counter drop
            udp dport 7102 counter drop
            udp dport 7103 accept
          }
        }
        """, in: lab.server)

        let daemon = try DaemonHarness()
        defer { daemon.stop(); DaemonHarness.removeAccounts() }
        let metricsPort = try Self.freeLoopbackPort(), prometheusPort = try Self.freeLoopbackPort()
        let paths = daemon.directory + "/paths.jsonl"
        try daemon.writeConfig("""
        [metrics]
        listen = "tcp:127.0.0.1:\(metricsPort)"

        [[sink]]
        name = "paths"
        type = "file"
        path = "\(paths)"

        [[watch]]
        name = "udp71"
        netns = "\(lab.server)"
        proto = "udp"
        dport = "7101-7104"
        # Above what the test sends in a second: the default (10/second) would leave some untraced.
        limit = "200"
        sinks = ["paths"]
        """)
        try daemon.start()
        try daemon.waitFor("metrics on http://127.0.0.1:\(metricsPort)/metrics")

        let prometheus = try PrometheusServer(port: prometheusPort, target: "127.0.0.1:\(metricsPort)", directory: daemon.directory + "/prometheus")
        defer { prometheus.stop() }
        try prometheus.waitUntilScraping(job: "fwtrace")
        // The fleet's way (docs/metrics.md): a host's Prometheus in agent mode scrapes the daemon
        // and remote-writes to the central server, its instance set to the host's name.
        let agent = try PrometheusServer(port: try Self.freeLoopbackPort(), target: "127.0.0.1:\(metricsPort)", directory: daemon.directory + "/agent",
                                         agent: "fw-17", remoteWrite: "http://127.0.0.1:\(prometheusPort)/api/v1/write")
        defer { agent.stop() }

        try Self.waitRunning(daemon)
        let sends = [(7101, 3), (7102, 5), (7103, 2), (7104, 4)]
        for (port, count) in sends { for _ in 0..<count { try lab.send(["udp", "10.99.0.2", "\(port)"]) } }
        let expectedPaths = sends.reduce(0) { $0 + $1.1 }

        // The file sink's drops by deciding rule.
        var records: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            records = Self.pathRecords(paths)
            if records.count >= expectedPaths { break }
            usleep(100_000)
        }
        XCTAssertEqual(records.count, expectedPaths, "paths in the file sink; daemon log:\n\(daemon.log)")
        var fileDrops: [String: Int] = [:]
        for record in records where record["verdict"] as? String == "drop" {
            let decided = record["decided_by"] as? [String: Any] ?? [:]
            let rule = decided["kind"] as? String == "rule" ? (decided["rule"] as? Int).map(String.init) ?? "" : "policy"
            fileDrops["\(decided["table"] ?? "")/\(decided["chain"] ?? "")/\(rule)", default: 0] += 1
        }
        XCTAssertEqual(fileDrops, ["filter/input/1": 3, "filter/input/2": 5, "filter/input/policy": 4], "the file sink's drops")

        // Prometheus's, once a scrape after the last path has been stored.
        // This server's own scrape (the agent's remote-written copy has instance="fw-17").
        let own = "job=\"fwtrace\",instance=\"127.0.0.1:\(metricsPort)\""
        let query = "sum by (table, chain, rule) (fwtrace_paths_total{\(own),watch=\"udp71\",verdict=\"drop\"})"
        var promDrops: [String: Int] = [:]
        let queryDeadline = Date().addingTimeInterval(20)
        while Date() < queryDeadline {
            promDrops = [:]
            for sample in try prometheus.query(query) {
                let labels = sample.labels
                promDrops["\(labels["table"] ?? "")/\(labels["chain"] ?? "")/\(labels["rule"] ?? "")"] = Int(sample.value)
            }
            if promDrops == fileDrops { break }
            usleep(500_000)
        }
        XCTAssertEqual(promDrops, fileDrops, "PromQL `\(query)` against the file sink's records")

        // The rest of what the daemon exposes, as Prometheus stored it.
        let accepted = try prometheus.query("sum(fwtrace_paths_total{\(own),watch=\"udp71\",verdict=\"accept\"})")
        XCTAssertEqual(accepted.first.map { Int($0.value) }, 2)
        let events = try prometheus.query("fwtrace_trace_events_total{\(own),watch=\"udp71\"}")
        XCTAssertGreaterThanOrEqual(events.first.map { Int($0.value) } ?? 0, expectedPaths, "events received")
        let delivered = try prometheus.query("fwtrace_sink_records_total{\(own),sink=\"paths\",outcome=\"delivered\"}")
        XCTAssertGreaterThanOrEqual(delivered.first.map { Int($0.value) } ?? 0, expectedPaths, "the file sink's delivered records (paths and the session record)")
        let sessions = try prometheus.query("fwtrace_sessions{\(own),kind=\"watch\"}")
        XCTAssertEqual(sessions.first.map { Int($0.value) }, 1)
        let rules = try prometheus.query("fwtrace_trace_rules{\(own),kind=\"watch\"}")
        XCTAssertGreaterThan(rules.first.map { Int($0.value) } ?? 0, 0, "trace rules installed")
        let build = try prometheus.query("fwtrace_build_info{\(own)}")
        XCTAssertEqual(build.first?.labels["version"].map { !$0.isEmpty }, true)
        let lost = try prometheus.query("sum(fwtrace_trace_lost_total{\(own),watch=\"udp71\"}) or vector(0)")
        XCTAssertEqual(lost.first.map { Int($0.value) }, 0, "nothing lost")
        // What the agent forwarded: the same drops, under the host's name.
        let forwarded = #"sum by (table, chain, rule) (fwtrace_paths_total{instance="fw-17",watch="udp71",verdict="drop"})"#
        var agentDrops: [String: Int] = [:]
        let agentDeadline = Date().addingTimeInterval(20)
        while Date() < agentDeadline {
            agentDrops = [:]
            for sample in try prometheus.query(forwarded) {
                agentDrops["\(sample.labels["table"] ?? "")/\(sample.labels["chain"] ?? "")/\(sample.labels["rule"] ?? "")"] = Int(sample.value)
            }
            if agentDrops == fileDrops { break }
            usleep(500_000)
        }
        XCTAssertEqual(agentDrops, fileDrops, "remote-written by the agent; agent log:\n\(agent.output)")
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
    }

    /// Clients that connect and send nothing (more than the listener's 16 slots), and one that
    /// sends its request and never reads, hold neither a scrape nor the daemon's stop.
    func testSilentAndStalledClientsHoldNeitherAScrapeNorTheStop() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop(); DaemonHarness.removeAccounts() }
        let port = try Self.freeLoopbackPort()
        try daemon.writeConfig("[metrics]\nlisten = \"tcp:127.0.0.1:\(port)\"\n")
        try daemon.start()
        let crowd = Process()
        crowd.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        crowd.arguments = ["-c", """
        import socket, sys, time
        held = []
        for _ in range(24):
            held.append(socket.create_connection(("127.0.0.1", \(port))))
        stalled = socket.create_connection(("127.0.0.1", \(port)))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stalled.sendall(b"GET /metrics HTTP/1.1\\r\\n\\r\\n")
        print("connected", flush=True)
        time.sleep(20)
        """]
        let out = Pipe()
        crowd.standardOutput = out
        try crowd.run()
        defer { crowd.terminate(); crowd.waitUntilExit() }
        _ = out.fileHandleForReading.availableData   // "connected"
        let started = Date()
        let scrape = try E2E.run(["curl", "-sS", "--max-time", "3", "http://127.0.0.1:\(port)/metrics"], check: false)
        XCTAssertEqual(scrape.status, 0, "the scrape beside 25 idle clients: \(scrape.stderr)")
        XCTAssertTrue(scrape.stdout.contains("fwtrace_build_info"), scrape.stdout)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        // The other answers docs/metrics.md names.
        let head = try E2E.run(["curl", "-sS", "-I", "--max-time", "3", "http://127.0.0.1:\(port)/metrics"], check: false)
        XCTAssertTrue(head.stdout.hasPrefix("HTTP/1.1 200 OK") && head.stdout.contains("text/plain; version=0.0.4"), head.stdout)
        let other = try E2E.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "http://127.0.0.1:\(port)/other"], check: false)
        XCTAssertEqual(other.stdout, "404")
        let post = try E2E.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--max-time", "3", "http://127.0.0.1:\(port)/metrics"], check: false)
        XCTAssertEqual(post.stdout, "405")
        // A reload keeps the listener as it was ([metrics] changes only on restart).
        try daemon.writeConfig("[metrics]\nlisten = \"tcp:127.0.0.1:\(try Self.freeLoopbackPort())\"\n")
        daemon.signal(SIGHUP)
        try daemon.waitFor("reload: [metrics] changes only on restart")
        let after = try E2E.run(["curl", "-sS", "--max-time", "3", "http://127.0.0.1:\(port)/metrics"], check: false)
        XCTAssertTrue(after.stdout.contains("fwtrace_build_info"), "still on the first port after the reload: \(after.stderr)")
        let stopping = Date()
        XCTAssertEqual(daemon.stop(), 0, daemon.log)
        XCTAssertLessThan(Date().timeIntervalSince(stopping), 3, "the stop with the clients still connected")
    }

    /// A listener that cannot be made stops the start (exit 5, the address named), and what had
    /// started goes: a unix metrics socket is removed when the control socket is taken.
    func testAListenerThatCannotBeMadeStopsTheStart() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop(); DaemonHarness.removeAccounts() }
        let port = try Self.freeLoopbackPort()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', \(port))); s.listen(); print('bound', flush=True); time.sleep(20)"]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        _ = out.fileHandleForReading.availableData   // "bound"
        try daemon.writeConfig("[metrics]\nlisten = \"tcp:127.0.0.1:\(port)\"\n")
        try daemon.start(waitReady: false)
        XCTAssertEqual(Self.exitStatus(daemon), 5, daemon.log)
        XCTAssertTrue(daemon.log.contains("metrics cannot listen on http://127.0.0.1:\(port)/metrics"), daemon.log)

        // The control socket taken by another process: the metrics socket made before it goes.
        let metricsSocket = daemon.directory + "/metrics.sock"
        try daemon.writeConfig("[metrics]\nlisten = \"unix:\(metricsSocket)\"\n")
        let squatter = Process()
        squatter.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        squatter.arguments = ["-c", "import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('\(daemon.socketPath)'); s.listen(); print('bound', flush=True); time.sleep(20)"]
        let squatterOut = Pipe()
        squatter.standardOutput = squatterOut
        try squatter.run()
        defer { squatter.terminate(); squatter.waitUntilExit() }
        _ = squatterOut.fileHandleForReading.availableData
        try daemon.start(waitReady: false)
        XCTAssertEqual(Self.exitStatus(daemon), 5, daemon.log)
        XCTAssertTrue(daemon.log.contains("metrics on unix:\(metricsSocket)"), "the metrics listener had started: \(daemon.log)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: metricsSocket), "the metrics socket is left behind")
    }

    /// The status the daemon exits with by itself (a failed start), within 10 s.
    static func exitStatus(_ daemon: DaemonHarness) -> Int32? {
        guard let p = daemon.process else { return nil }
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        guard !p.isRunning else { return nil }
        daemon.process = nil
        return p.terminationStatus
    }

    /// Until the watch's session has installed its rules.
    static func waitRunning(_ daemon: DaemonHarness) throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let watches = try? daemon.status()["watches"] as? [[String: Any]], watches.first?["state"] as? String == "running" { return }
            usleep(100_000)
        }
        XCTFail("the watch never ran: \((try? daemon.status()).map { "\($0)" } ?? "no status")\n\(daemon.log)")
    }

    /// A port nothing listens on now, on 127.0.0.1 (the kernel's pick; freed at once).
    static func freeLoopbackPort() throws -> Int {
        let r = try E2E.run(["/usr/bin/python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        return try XCTUnwrap(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    static func pathRecords(_ file: String) -> [[String: Any]] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "path" }
    }
}

/// Debian's prometheus on 127.0.0.1:`port`, scraping `target` every second, its config and TSDB in
/// `directory` (nothing of /etc/prometheus or /var/lib/prometheus is read or written).
final class PrometheusServer {
    struct Sample { let labels: [String: String]; let value: Double }
    let port: Int
    private let process = Process()
    private let log: String

    /// `agent`: a host's Prometheus in agent mode (docs/metrics.md), its `instance` set to that
    /// name, remote-writing to `remoteWrite`; otherwise a server that also takes remote writes.
    init(port: Int, target: String, directory: String, agent: String? = nil, remoteWrite: String? = nil) throws {
        self.port = port
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let config = directory + "/prometheus.yml"
        var yaml = """
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: fwtrace
            scrape_interval: 1s
            static_configs:
              - targets: ['\(target)']

        """
        if let agent { yaml += "    relabel_configs:\n      - target_label: instance\n        replacement: \(agent)\n" }
        if let remoteWrite { yaml += "remote_write:\n  - url: \(remoteWrite)\n" }
        try yaml.write(toFile: config, atomically: false, encoding: .utf8)
        log = directory + "/prometheus.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        process.arguments = ["--config.file=\(config)", "--web.listen-address=127.0.0.1:\(port)"]
            + (agent != nil ? ["--enable-feature=agent", "--storage.agent.path=\(directory)/data"]
                            : ["--storage.tsdb.path=\(directory)/data", "--web.enable-remote-write-receiver"])
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Until the target's last scrape succeeded (the `up` series is 1).
    func waitUntilScraping(job: String, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if process.isRunning, let up = try? query("up{job=\"\(job)\"}"), up.first?.value == 1 { return }
            if !process.isRunning { break }
            usleep(250_000)
        }
        throw NSError(domain: "e2e", code: 1, userInfo: [NSLocalizedDescriptionKey: "prometheus never scraped job \(job) (up == 1):\n\(output)"])
    }

    /// An instant query through the HTTP API (/api/v1/query): the vector's samples.
    func query(_ promql: String) throws -> [Sample] {
        let r = try E2E.run(["curl", "-sS", "--max-time", "5", "--data-urlencode", "query=\(promql)", "http://127.0.0.1:\(port)/api/v1/query"], check: false)
        guard let body = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              body["status"] as? String == "success", let data = body["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]] else {
            throw NSError(domain: "e2e", code: 1, userInfo: [NSLocalizedDescriptionKey: "query \(promql): \(r.stdout) \(r.stderr)"])
        }
        return result.map { entry in
            let value = (entry["value"] as? [Any])?.last as? String
            return Sample(labels: entry["metric"] as? [String: String] ?? [:], value: value.flatMap(Double.init) ?? .nan)
        }
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
