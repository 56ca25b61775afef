import Glibc
import Foundation
import FWTraceCore

/// Installs fwtrace's own table: `table inet fwtrace_<session>` with `flags owner`, base chains
/// at prerouting and output at priority -350 (before raw and conntrack), one rule each:
/// the user's filter, the rate limit, `meta nftrace set 1`. Nothing else is touched.
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
    public static func script(table: String, filters: [TraceFilter], limit: RateLimit?, session: String) -> (String, [String], [String: Hook]) {
        var lines = ["table inet \(table) {", "  flags owner;"]
        var rules: [String] = []
        var chains: [String: Hook] = [:]
        for (chain, hook) in [("pre", Hook.prerouting), ("out", Hook.output)] {
            let matches = filters.compactMap { $0.nftMatch(for: hook) }
            guard !matches.isEmpty else { continue }
            lines += ["  chain \(chain) {",
                      "    type filter hook \(hook.rawValue) priority -350; policy accept;"]
            for match in matches {
                // The counter counts the packets traced (after the limit): what a loss leaves unseen.
                let rule = [match, limit?.nft ?? "", "counter", "meta nftrace set 1", "comment \"fwtrace:\(session)\""]
                    .filter { !$0.isEmpty }.joined(separator: " ")
                lines.append("    \(rule)")
                rules.append("inet \(table) \(chain): \(rule)")
            }
            lines.append("  }")
            chains[chain] = hook
        }
        lines.append("}")
        return (lines.joined(separator: "\n") + "\n", rules, chains)
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
        let (script, rules, chains) = Self.script(table: tableName, filters: filters, limit: limit, session: session)
        let result = context.run(script)
        guard result.ok else {
            throw UserFacingError("could not install the trace table: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: ExitCode.failure)
        }
        installed = true
        installedRules = rules
        self.chains = chains
    }

    /// Packets the trace rules marked so far (their counters), nil if the table cannot be read.
    public func tracedPackets() -> UInt64? {
        guard installed else { return nil }
        let listing = context.run("list table inet \(tableName)")
        guard listing.ok else { return nil }
        return Self.countedPackets(listing.output)
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
        installed = false
    }
}
