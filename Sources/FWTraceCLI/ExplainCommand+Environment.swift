import FWTraceCore
import FWTraceKernel
import Foundation

/// What explain reads of the namespace besides the ruleset: its own addresses (with prefixes and
/// interfaces: addrtype, fib, routing to INPUT), recent's lists; and the packet's mark.
extension ExplainCommand {
    /// `--mark` and `--own-address`, checked before privileges (a usage error).
    func validateEnvironmentOptions() throws {
        guard MatchEnvironment.mark(mark) != nil else {
            throw FilterError("invalid --mark '\(mark)': give a number from 0 to 4294967295, or 0x…", example: "--mark 0x4000")
        }
        for text in ownAddresses where NamespaceState.ownAddress(text) == nil {
            throw FilterError("invalid --own-address '\(text)': give ADDRESS[/LENGTH][@INTERFACE]", example: "--own-address 10.0.0.5/24@eth0")
        }
    }

    /// The addresses routing sends to INPUT, and the environment the matches read: the
    /// namespace's addresses (`--own-address`, else `ip -j addr show` in the namespace), recent's
    /// lists (/proc/net/xt_recent; a list not there is assumed empty, and so stated), limits
    /// under their rate (stated), the mark.
    func predictionEnvironment() throws -> (routing: Set<IPAddress>, matches: MatchEnvironment) {
        var addresses = ownAddresses.compactMap(NamespaceState.ownAddress)
        if addresses.isEmpty {
            let out = try? ProcessRunner.run(["ip", "-j", "addr", "show"])
            addresses = out.map { $0.ok ? NamespaceState.localAddresses(ipJSON: $0.stdout) : [] } ?? []
        }
        let routing = Set(addresses.map(\.address))
        var environment = PathPredictor.predictionEnvironment(routing)
        environment.localAddresses = addresses
        environment.recentLists = NamespaceState.recentLists()
        environment.mark = MatchEnvironment.mark(mark)
        return (routing, environment)
    }
}
