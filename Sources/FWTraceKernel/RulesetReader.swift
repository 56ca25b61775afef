import Glibc
import Foundation
import FWTraceCore

/// Reads the namespace's ruleset into a RuleCatalog: the nft listing through libnftables, and
/// the iptables-nft tables' own text from `iptables-nft-save` / `ip6tables-nft-save`.
public final class RulesetReader {
    let context: NftablesContext
    public private(set) var loads = 0

    public init(context: NftablesContext) { self.context = context }

    public func load() -> RuleCatalog {
        loads += 1
        let listing = context.run("list ruleset", handles: true)
        var saves: [TableFamily: String] = [:]
        let hasIPTables = listing.output.range(of: #"table ip6? (filter|nat|mangle|raw|security) "#, options: .regularExpression) != nil
        if hasIPTables {
            for (family, program) in [(TableFamily.ip, "iptables-nft-save"), (.ip6, "ip6tables-nft-save")] {
                guard ProcessRunner.find(program) != nil,
                      let output = try? ProcessRunner.run([program]), output.ok else { continue }
                saves[family] = output.stdout
            }
        }
        return RuleCatalog.build(nftListing: listing.output, iptablesSave: saves)
    }

    /// The ruleset's JSON form, for evaluating native nft rules (hints, explain); nil if it fails.
    public func loadNative() -> NftRuleset? {
        let listing = context.run("list ruleset", json: true)
        guard listing.ok else { return nil }
        return try? NftRuleset.parse(json: listing.output)
    }
}

/// Interface index → name in the traced namespace, cached; the cache is dropped on a miss.
public final class InterfaceNames {
    private var cache: [UInt32: String] = [:]
    public init() {}

    public func name(_ index: UInt32) -> String? {
        if index == 0 { return nil }
        if let name = cache[index] { return name }
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buffer) != nil else { return "if\(index)" }
        let name = String(cString: buffer)
        cache[index] = name
        return name
    }

    public func invalidate() { cache.removeAll() }
}
