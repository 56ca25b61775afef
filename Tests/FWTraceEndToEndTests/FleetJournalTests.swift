import Foundation
import XCTest

/// Issue 17, the central journal: two daemons on two "hosts" (UTS namespaces with their own
/// hostnames, mount namespaces with their own real systemd-journald) upload their journals with
/// the real systemd-journal-upload to a real systemd-journal-remote in a third namespace
/// (Tests/tools/fleet-journal.sh). There, a query by FWTRACE_* fields and _HOSTNAME finds each
/// host's paths, only that host's, and each record's "host" is the host's _HOSTNAME.
final class FleetJournalTests: XCTestCase {
    static let tools = ["/lib/systemd/systemd-journald", "/lib/systemd/systemd-journal-upload",
                        "/lib/systemd/systemd-journal-remote", "/usr/bin/journalctl", "/usr/bin/nsenter", "/usr/bin/unshare"]

    override func setUpWithError() throws {
        try E2E.requireRoot()
        for tool in Self.tools where !FileManager.default.isExecutableFile(atPath: tool) {
            // A failure, never a skip: CI's make deps installs them.
            throw NSError(domain: "e2e", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(tool) is missing: apt-get install systemd systemd-journal-remote util-linux (make deps)"])
        }
    }

    /// The script's stdout: "# files: …", "# state-entry a: JSON", then "# query: MATCH…" sections.
    struct Results {
        var files: [String] = []
        var stateEntry: [String: Any]?
        var queries: [String: [[String: Any]]] = [:]

        init(_ text: String) {
            var current: String?
            for line in text.split(separator: "\n").map(String.init) {
                if line.hasPrefix("# files:") {
                    files = line.dropFirst("# files:".count).split(separator: " ").map(String.init)
                } else if line.hasPrefix("# state-entry a:") {
                    stateEntry = Self.object(String(line.dropFirst("# state-entry a:".count)))
                } else if line.hasPrefix("# query: ") {
                    current = String(line.dropFirst("# query: ".count))
                    queries[current!] = []
                } else if let q = current, let entry = Self.object(line) {
                    queries[q, default: []].append(entry)
                }
            }
        }

        static func object(_ text: String) -> [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        }
    }

    func testTwoHostsUploadToOneCentralJournalQueriedByFieldsAndHost() throws {
        let work = "/tmp/fwt-fleet-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let started = Date()
        let run = try E2E.run([E2E.packageRoot.appendingPathComponent("Tests/tools/fleet-journal.sh").path,
                               "--wait", "30", E2E.binary, work], check: false)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(run.status, 0, "fleet-journal.sh failed:\n\(run.stderr)")
        XCTAssertLessThan(elapsed, 120, "fleet-journal.sh took \(Int(elapsed)) s")
        let results = Results(run.stdout)

        // journal-remote --split-mode=host: one file per sending host (its address, no DNS here).
        XCTAssertEqual(results.files.sorted(), ["remote-10.97.1.2.journal", "remote-10.97.2.2.journal"], run.stderr)

        var dropMessages: [String: Set<String>] = [:]
        for host in Self.hosts { dropMessages[host.name] = try checkHost(host, in: results, log: run.stderr) }
        // A host's query never finds the other's paths.
        XCTAssertTrue(dropMessages["fwt-host-a", default: []].isDisjoint(with: dropMessages["fwt-host-b", default: []]))

        // Every fwtrace entry at the central journal: the record's host is the entry's _HOSTNAME,
        // and there are exactly the two hosts.
        let every = results.queries["SYSLOG_IDENTIFIER=fwtrace"] ?? []
        XCTAssertGreaterThanOrEqual(every.count, 3 + 2 + 5 + 1 + 4)
        var names = Set<String>()
        for entry in every {
            let record = try XCTUnwrap(Results.object(entry["MESSAGE"] as? String ?? ""), "\(entry)")
            let name = try XCTUnwrap(entry["_HOSTNAME"] as? String)
            XCTAssertEqual(record["host"] as? String, name, "record host vs _HOSTNAME: \(entry["MESSAGE"] ?? "")")
            names.insert(name)
        }
        XCTAssertEqual(names, ["fwt-host-a", "fwt-host-b"])

        // Nothing left: no namespace, no process of the run (each one's command line names WORKDIR).
        for ns in ["fwt-fleet-a", "fwt-fleet-b", "fwt-fleet-c"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/\(ns)"), "\(ns) left behind")
        }
        XCTAssertEqual(Self.processes(naming: work), [], "processes left behind")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/fleet"), "WORKDIR/fleet left behind")
    }

    typealias Host = (name: String, netns: String, address: String, drops: Int, accepts: Int)
    static let hosts: [Host] = [
        ("fwt-host-a", "fwt-fleet-a", "10.97.1.2", 3, 2),
        ("fwt-host-b", "fwt-fleet-b", "10.97.2.2", 5, 1),
    ]

    /// One host's entries at the central journal; returns its drop records (the MESSAGEs).
    func checkHost(_ host: Host, in results: Results, log: String) throws -> Set<String> {
        let drops = results.queries["FWTRACE_VERDICT=drop _HOSTNAME=\(host.name)"] ?? []
        XCTAssertEqual(drops.count, host.drops, "\(host.name)'s drop paths in the central journal:\n\(log)")
        let accepts = results.queries["FWTRACE_VERDICT=accept _HOSTNAME=\(host.name)"] ?? []
        for (entry, verdict) in drops.map({ ($0, "drop") }) + accepts.map({ ($0, "accept") }) {
            let message = try XCTUnwrap(entry["MESSAGE"] as? String, "\(entry.keys.sorted())")
            let record = try XCTUnwrap(Results.object(message), "MESSAGE is the record's JSON line: \(message)")
            XCTAssertEqual(entry["_HOSTNAME"] as? String, host.name)
            XCTAssertEqual(record["host"] as? String, host.name, "the record's host field is the host's _HOSTNAME")
            XCTAssertEqual(record["type"] as? String, "path")
            XCTAssertEqual(record["verdict"] as? String, verdict)
            XCTAssertEqual(record["netns"] as? String, host.netns)
            XCTAssertEqual(record[object: "packet"]["dst"] as? String, host.address)
            XCTAssertEqual(record[object: "decided_by"]["text"] as? String, verdict == "drop" ? "udp dport 7001 counter drop" : "udp dport 7002 counter accept")
            XCTAssertEqual(entry["FWTRACE_WATCH"] as? String, "fleet")
            XCTAssertEqual(entry["FWTRACE_VERDICT"] as? String, verdict)
            XCTAssertEqual(entry["FWTRACE_NETNS"] as? String, host.netns)
            XCTAssertEqual(entry["FWTRACE_DPORT"] as? String, verdict == "drop" ? "7001" : "7002")
            XCTAssertEqual(entry["SYSLOG_IDENTIFIER"] as? String, "fwtrace")
            XCTAssertEqual(entry["_TRANSPORT"] as? String, "journal", "the daemon's journald sink, not stdout")
        }
        // Each drop once: a path is one packet (its trace id and time), none sent twice.
        let messages = Set(drops.compactMap { $0["MESSAGE"] as? String })
        XCTAssertEqual(messages.count, host.drops, "a drop path arrived twice at the central journal")

        // The accepts: each packet's path is there. systemd-journal-upload 252 sends the entry
        // its state file names once more after a restart (host a's uploader is restarted):
        // that one, and only that one, may be there twice.
        let acceptMessages = accepts.compactMap { $0["MESSAGE"] as? String }
        XCTAssertEqual(Set(acceptMessages).count, host.accepts, "\(host.name)'s accept paths:\n\(log)")
        let repeated = acceptMessages.count - Set(acceptMessages).count
        if host.name == "fwt-host-a" {
            XCTAssertLessThanOrEqual(repeated, 1)
            if repeated == 1 {
                let stateMessage = try XCTUnwrap(results.stateEntry?["MESSAGE"] as? String, "the state file named no entry")
                XCTAssertEqual(acceptMessages.filter { $0 == stateMessage }.count, 2,
                               "the one entry uploaded twice is the one the uploader's state file named")
            }
        } else {
            XCTAssertEqual(repeated, 0, "\(host.name)'s uploader never restarted: nothing twice")
        }

        // The watch's session: started and ended (SIGTERM), from this host, uploaded too.
        let sessions = results.queries["FWTRACE_TYPE=session _HOSTNAME=\(host.name)"] ?? []
        let events = sessions.compactMap { Results.object($0["MESSAGE"] as? String ?? "") }
        XCTAssertEqual(events.compactMap { $0["event"] as? String }.sorted(), ["ended", "started"], "\(host.name)'s session records")
        for event in events { XCTAssertEqual(event["host"] as? String, host.name) }
        return messages
    }

    /// Pids whose command line contains `text`.
    static func processes(naming text: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
        return pids.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text)
        }
    }
}
