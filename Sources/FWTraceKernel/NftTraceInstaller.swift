import Glibc
import Foundation
import FWTraceCore

/// Installs fwtrace's own table: `table inet fwtrace_<session>` with `flags owner`, base chains
/// at prerouting and output at priority -350 (before raw and conntrack), one rule each:
/// the user's filter, the rate limit, `meta nftrace set 1`; and, when the ruleset has ingress
/// chains, `table netdev fwtrace_<session>` with an ingress chain on each of their devices.
/// Nothing else is touched.
public final class NftTraceInstaller {
    public let tableName: String
    public let context: NftablesContext
    public private(set) var installedRules: [String] = []
    public private(set) var chains: [String: Hook] = [:]
    private var installed = false

    public init(session: String, context: NftablesContext) {
        self.tableName = "fwtrace_\(session)"
        self.context = context
    }

    /// The nft script that creates the table. Exposed for tests and `--dry-run`-style messages.
    public static func script(table: String, filter: TraceFilter, limit: RateLimit?, session: String) -> (String, [String], [String: Hook]) {
        script(table: table, filters: [filter], limit: limit, session: session)
    }

    /// One rule per filter in each chain (the user's filter, then the ones a DNAT rewrote).
    /// `ingressDevices`: devices with ingress chains in the ruleset; a `table netdev` of the same
    /// name hooks each at the lowest priority there is, so a frame is traced before any of
    /// them runs (a drop there never reaches prerouting), and the prerouting rule leaves those
    /// devices' packets to it (each traced packet counted once).
    /// `bridge`: the ruleset has bridge-family base chains; a `table bridge` of the same name then
    /// marks every frame a bridge takes in, at its prerouting hook, before any of them.
    public static func script(table: String, filters: [TraceFilter], limit: RateLimit?, session: String,
                              ingressDevices: [String] = [], bridge: Bool = false) -> (String, [String], [String: Hook]) {
        var lines = ["table inet \(table) {", "  flags owner;"]
        var rules: [String] = []
        var chains: [String: Hook] = [:]
        let devices = ingressDevices.filter(Self.isDeviceName)
        let skipIngressDevices = devices.isEmpty ? "" : "iifname != { \(devices.map { "\"\($0)\"" }.joined(separator: ", ")) }"
        func rule(_ match: String, _ extra: String = "") -> String {
            // The counter counts the packets traced (after the limit): what a loss leaves unseen.
            [match, extra, limit?.nft ?? "", "counter", "meta nftrace set 1", "comment \"fwtrace:\(session)\""]
                .filter { !$0.isEmpty }.joined(separator: " ")
        }
        for (chain, hook) in [("pre", Hook.prerouting), ("out", Hook.output)] {
            let matches = filters.compactMap { $0.nftMatch(for: hook) }
            guard !matches.isEmpty else { continue }
            lines += ["  chain \(chain) {",
                      "    type filter hook \(hook.rawValue) priority -350; policy accept;"]
            let skipIngress = hook == .prerouting ? skipIngressDevices : ""
            for match in matches {
                let text = rule(match, skipIngress)
                lines.append("    \(text)")
                rules.append("inet \(table) \(chain): \(text)")
            }
            lines.append("  }")
            chains[chain] = hook
        }
        lines.append("}")
        let ingressMatches = filters.compactMap { $0.nftMatch(for: .ingress) }
        if !devices.isEmpty, !ingressMatches.isEmpty {
            lines += ["table netdev \(table) {", "  flags owner;"]
            for (i, device) in devices.enumerated() {
                let chain = "in\(i)"
                lines += ["  chain \(chain) {",
                          "    type filter hook ingress device \"\(device)\" priority \(Self.ingressPriority); policy accept;"]
                for match in ingressMatches {
                    let text = rule(match)
                    lines.append("    \(text)")
                    rules.append("netdev \(table) \(chain) (\(device)): \(text)")
                }
                lines.append("  }")
                chains[chain] = .ingress
            }
            lines.append("}")
        }
        // The bridge family's frames: the same match as at ingress (the ethertype's family).
        if bridge, !ingressMatches.isEmpty {
            lines += ["table bridge \(table) {", "  flags owner;", "  chain bpre {",
                      "    type filter hook prerouting priority \(Self.ingressPriority); policy accept;"]
            for match in ingressMatches {
                // A port with an ingress chain: its frames were marked there already.
                let text = rule(match, skipIngressDevices)
                lines.append("    \(text)")
                rules.append("bridge \(table) bpre: \(text)")
            }
            lines += ["  }", "}"]
            chains["bpre"] = .prerouting
        }
        return (lines.joined(separator: "\n") + "\n", rules, chains)
    }

    /// Whether `list chains` shows a base chain (one with a hook) in a bridge-family table other
    /// than fwtrace's own.
    public static func hasBridgeChains(listing: String) -> Bool {
        var bridgeTable = false
        for line in listing.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("table ") {
                let words = text.split(separator: " ")
                bridgeTable = words.count >= 3 && words[1] == "bridge" && !words[2].hasPrefix("fwtrace_")
            } else if bridgeTable, text.contains(" hook ") { return true }
        }
        return false
    }

    /// The lowest chain priority nf_tables takes: before every other ingress chain.
    public static let ingressPriority = Int(Int32.min)

    /// An interface name as the kernel allows it (IFNAMSIZ - 1 bytes, no '/', quote or space),
    /// so that a name from the ruleset listing cannot break the script.
    static func isDeviceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        // '*' too: nft reads a quoted name ending in it as a wildcard.
        return !bytes.isEmpty && bytes.count <= 15 && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != 0x2f && $0 != 0x22 && $0 != 0x5c && $0 != 0x2a }
    }

    /// The devices that ingress chains of the ruleset hook (netdev tables, and inet tables'
    /// ingress chains, which share the hook): `device "X"` or `devices = { "a", b }` on a chain
    /// of `hook ingress`, from `list chains`. fwtrace's own tables are left out.
    public static func ingressDevices(listing: String) -> [String] {
        var devices: [String] = []
        var ownTable = false
        for line in listing.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("table ") { ownTable = text.split(separator: " ").dropFirst(2).first?.hasPrefix("fwtrace_") ?? false; continue }
            guard !ownTable, text.contains("hook ingress") else { continue }
            var names: [Substring] = []
            if let range = text.range(of: "devices = {"), let end = text[range.upperBound...].firstIndex(of: "}") {
                names = text[range.upperBound..<end].split(separator: ",")
            } else if let range = text.range(of: "device ") {
                names = [text[range.upperBound...].prefix { $0 != " " && $0 != ";" }]
            }
            for raw in names {
                let name = raw.trimmingCharacters(in: CharacterSet(charactersIn: " \""))
                if isDeviceName(name), !devices.contains(name) { devices.append(name) }
            }
        }
        return devices
    }

    public func install(filters: [TraceFilter], limit: RateLimit?, session: String) throws {
        // Probe nf_tables first so that a kernel without it gets its own sentence.
        let probe = context.run("list tables")
        if !probe.ok {
            if probe.error.contains("Operation not permitted") {
                throw UserFacingError("nftables refused to list tables (Operation not permitted): run fwtrace as root", exitCode: ExitCode.noPrivilege)
            }
            if probe.error.contains("not supported") || probe.error.contains("Protocol") {
                throw UserFacingError("this kernel has no nf_tables: load it with `modprobe nf_tables` (kernels without nf_tables need the legacy backend, which this version does not have yet)", exitCode: ExitCode.unavailable)
            }
            throw UserFacingError("nftables is not usable here: \(probe.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: ExitCode.unavailable)
        }
        // Ingress chains run before prerouting: a packet they drop would never be seen there.
        let listing = context.run("list chains").output
        let devices = Self.ingressDevices(listing: listing)
        let (script, rules, chains) = Self.script(table: tableName, filters: filters, limit: limit, session: session,
                                                  ingressDevices: devices, bridge: Self.hasBridgeChains(listing: listing))
        let result = context.run(script)
        guard result.ok else {
            throw UserFacingError("could not install the trace table: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: ExitCode.failure)
        }
        installed = true
        hasIngressTable = chains.values.contains(.ingress)
        hasBridgeTable = chains["bpre"] != nil
        installedRules = rules
        self.chains = chains
    }

    /// The `table netdev` of the same name is there too (the ruleset has ingress chains).
    public private(set) var hasIngressTable = false
    /// And the `table bridge` (the ruleset has bridge chains).
    public private(set) var hasBridgeTable = false

    /// Packets the trace rules marked so far (their counters), nil if the table cannot be read.
    public func tracedPackets() -> UInt64? {
        guard installed else { return nil }
        let listing = context.run("list table inet \(tableName)")
        guard listing.ok else { return nil }
        var total = Self.countedPackets(listing.output)
        for (family, present) in [("netdev", hasIngressTable), ("bridge", hasBridgeTable)] where present {
            let listing = context.run("list table \(family) \(tableName)")
            if listing.ok { total &+= Self.countedPackets(listing.output) }
        }
        return total
    }

    /// The sum of every "counter packets N" in an nft listing.
    static func countedPackets(_ listing: String) -> UInt64 {
        var total: UInt64 = 0
        for line in listing.split(separator: "\n") {
            let words = line.split(separator: " ")
            for i in words.indices.dropLast(2) where words[i] == "counter" && words[i + 1] == "packets" {
                total &+= UInt64(words[i + 2]) ?? 0
            }
        }
        return total
    }

    /// Deletes the table (the kernel would too when the context's socket closes: belt and braces).
    public func remove() {
        guard installed else { return }
        _ = context.run("delete table inet \(tableName)")
        if hasIngressTable { _ = context.run("delete table netdev \(tableName)") }
        if hasBridgeTable { _ = context.run("delete table bridge \(tableName)") }
        installed = false
    }
}
