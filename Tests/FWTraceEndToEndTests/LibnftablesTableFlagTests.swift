import Foundation
import XCTest
import FWTraceCore
import FWTraceKernel

/// libnftables up to 1.0.9 (Debian 12: 1.0.6) frees the flag of a table that has exactly one while
/// printing that table as JSON (docs/decisions.md). fwtrace reads the JSON ruleset there without
/// printing a table: these tests check that the reading gets what one `list ruleset` gets, and,
/// under valgrind, that the library no longer touches freed memory although such a table is there.
final class LibnftablesTableFlagTests: XCTestCase {
    var namespaces: [String] = []

    override func tearDown() {
        for ns in namespaces { _ = try? E2E.run(["ip", "netns", "delete", ns], check: false) }
        namespaces.removeAll()
    }

    func makeNamespace(_ name: String) throws -> String {
        let ns = "fwt-nftuaf-\(name)"
        _ = try? E2E.run(["ip", "netns", "delete", ns], check: false)
        try E2E.run(["ip", "netns", "add", ns])
        namespaces.append(ns)
        try E2E.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns
    }

    func nft(_ ns: String, _ script: String) throws {
        let file = NSTemporaryDirectory() + "fwt-nftuaf-\(UUID().uuidString).nft"
        try script.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try E2E.run(["ip", "netns", "exec", ns, "nft", "-f", file])
    }

    /// A table with no flag: sets, a verdict map, a jump.
    static let web = """
    table inet web {
      set allowed { type inet_service; elements = { 22, 80 }; }
      set blocked4 { type ipv4_addr; flags interval; elements = { 10.99.0.64/28, 192.0.2.0/24 }; }
      chain checks { ip saddr @blocked4 drop; return; }
      chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 jump checks
        tcp dport @allowed accept
        tcp dport vmap { 443 : accept, 8443 : drop }
        counter drop
      }
    }
    """

    /// With web, a nat table with a map; the tests add a table with two flags and a chain only
    /// JSON can name.
    static let ruleset = web + """

    table ip nat {
      map ports { type inet_service : ipv4_addr; elements = { 8080 : 10.99.0.9 }; }
      chain pre { type nat hook prerouting priority dstnat; dnat to tcp dport map @ports; }
    }
    """

    /// Runs `body` on a thread of its own in namespace `ns` (setns moves only the calling thread).
    func inNamespace<T: Sendable>(_ ns: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = Locked<Result<T, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            result.withLock { r in r = Result { try NetworkNamespace.resolve(ns).enter(); return try body() } }
            done.signal()
        }
        thread.start()
        done.wait()
        return try result.current!.get()
    }

    func testTheRulesetReadWithoutTablesEqualsTheWholeListing() throws {
        try E2E.requireRoot()
        let ns = try makeNamespace("list")
        try nft(ns, Self.ruleset)
        // A chain nft syntax cannot name (a keyword), added the way JSON users (firewalld) can.
        try E2E.run(["ip", "netns", "exec", ns, "nft", "-j", #"{"nftables":[{"add":{"table":{"family":"ip","name":"odd"}}},{"add":{"chain":{"family":"ip","table":"odd","name":"counter"}}},{"add":{"rule":{"family":"ip","table":"odd","chain":"counter","expr":[{"accept":null}]}}}]}"#])

        struct Reads: Sendable { var whole: Ruleset?; var pieces: Ruleset?; var chosen: Ruleset?
                                 var way: RulesetReader.NativeListing?; var release: LibnftablesRelease? }
        let read: @Sendable (Bool) throws -> Reads = { compareWhole in
            // Two flags (dormant + owner, owned by this context's socket): printed safely by
            // every release, so the whole listing may run for the comparison.
            let context = try NftablesContext()
            defer { context.close() }
            let two = context.run("add table inet two { flags dormant; flags owner; }\nadd chain inet two c { type filter hook output priority 0; }\nadd rule inet two c udp dport 9 accept\n")
            guard two.ok else { throw NSError(domain: "nft", code: 1, userInfo: [NSLocalizedDescriptionKey: two.error]) }
            let reader = RulesetReader(context: context)
            var reads = Reads()
            if compareWhole {
                reader.forcedNativeListing = .wholeRuleset
                reads.whole = reader.loadJSON().map(Ruleset.init(nftJSON:))
            }
            reader.forcedNativeListing = .withoutTables
            reads.pieces = reader.loadJSON().map(Ruleset.init(nftJSON:))
            reader.forcedNativeListing = nil
            reads.chosen = reader.loadJSON().map(Ruleset.init(nftJSON:))
            reads.way = reader.lastNativeListing
            reads.release = reader.libraryRelease
            return reads
        }
        let first = try inNamespace(ns) { try read(true) }
        let whole = try XCTUnwrap(first.whole), pieces = try XCTUnwrap(first.pieces)
        XCTAssertEqual(pieces, whole)
        XCTAssertEqual(whole.chainsInListingOrder.map { "\($0.key.family.rawValue) \($0.key.table) \($0.key.chain)" },
                       ["inet web checks", "inet web input", "ip nat pre", "ip odd counter", "inet two c"])
        XCTAssertEqual(whole.chain(.inet, "web", "input")?.rules.count, 6)
        XCTAssertEqual(whole.chain(.ip, "odd", "counter")?.rules.count, 1)
        XCTAssertEqual(whole.setElements(.inet, "web", "blocked4")?.count, 2)
        XCTAssertEqual(whole.setElements(.ip, "nat", "ports")?.count, 1)

        // This machine's release, as `nft -j` names it, decides the way.
        let metainfo = try E2E.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "chains"]).stdout
        let release = try XCTUnwrap(LibnftablesRelease(try NftListing(json: metainfo).version))
        XCTAssertEqual(first.release, release)
        XCTAssertEqual(first.way, release.printsSingleFlagTablesSafely ? .wholeRuleset : .withoutTables, "\(release)")
        XCTAssertEqual(first.chosen, whole)

        // A table with one flag: the whole listing is not run (it is the bug on affected
        // releases); the table-less read still gets its chains, rules and sets.
        try nft(ns, "table inet one {\n  flags dormant\n  set s { type ipv4_addr; elements = { 10.0.0.1 }; }\n  chain c { ip saddr @s drop; }\n}\n")
        let second = try inNamespace(ns) { try read(false) }
        let withOne = try XCTUnwrap(second.pieces)
        XCTAssertEqual(withOne.chain(.inet, "one", "c")?.rules.count, 1)
        XCTAssertEqual(withOne.setElements(.inet, "one", "s")?.count, 1)
        XCTAssertEqual(withOne.chains.count, whole.chains.count + 1)
        XCTAssertEqual(second.chosen, withOne)
    }

    /// `explain` reads the whole ruleset, JSON included, once: under valgrind, with a table that has
    /// one flag in the namespace, not one read or write of freed memory. Before the workaround,
    /// libjansson read the freed flag 12 times (`json_dump_callback` from `nft_run_cmd_from_buffer`).
    func testExplainTouchesNoFreedMemoryWithAOneFlagTable() throws {
        try E2E.requireRoot()
        let valgrind = "/usr/bin/valgrind"
        guard FileManager.default.isExecutableFile(atPath: valgrind) else {
            return XCTFail("valgrind is not installed (Makefile PACKAGES has it): apt-get install valgrind")
        }
        // valgrind 3.19 (Debian 12) cannot read the DWARF 5 forms clang writes for the C++ in the
        // debug binary (toml++) and gives up: it runs a copy without debug info (binutils' objcopy),
        // which it needs no more than to see freed memory touched.
        let stripped = NSTemporaryDirectory() + "fwtrace-valgrind-\(getpid())"
        try E2E.run(["objcopy", "--strip-debug", E2E.binary, stripped])
        defer { try? FileManager.default.removeItem(atPath: stripped) }
        let ns = try makeNamespace("vg")
        try nft(ns, Self.web + "\ntable inet one {\n  flags dormant\n  chain c { tcp dport 1 drop; }\n}\n")
        let run = try E2E.run(["ip", "netns", "exec", ns, valgrind, "--undef-value-errors=no", "--leak-check=no",
                               stripped, "explain", "--netns", ns, "--format", "json", "-p", "tcp",
                               "-s", "10.99.0.1", "-d", "127.0.0.1", "--dport", "80"], check: false)
        let errors = run.stderr.components(separatedBy: "\n").filter {
            $0.contains("Invalid read") || $0.contains("Invalid write") || $0.contains("Invalid free") || $0.contains("Mismatched free")
        }
        let first = run.stderr.range(of: errors.first ?? "\u{0}").map { String(run.stderr[$0.lowerBound...].prefix(3000)) } ?? ""
        XCTAssertEqual(errors.count, 0, "valgrind found freed memory in use:\n\(first)")
        XCTAssertEqual(run.status, 0, run.stderr.suffix(2000).description)
        // And the prediction used the JSON form: the set's elements decide.
        let prediction = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(prediction["verdict"] as? String, "accept")
        XCTAssertEqual(prediction[object: "decided_by"]["text"] as? String, "tcp dport @allowed accept")
    }
}
