import Glibc
import Foundation
import FWTraceCore

/// Reads the namespace's ruleset: the nft listing through libnftables (text, and JSON for the
/// rules' expressions), and the iptables-nft tables' own text from `iptables-nft-save` /
/// `ip6tables-nft-save`.
public final class RulesetReader {
    let context: NftablesContext
    public private(set) var loads = 0

    /// The `ip netns` name traced in (the managers' state is read from its /etc/netns/NAME).
    public var namespaceName: String?

    public init(context: NftablesContext) { self.context = context }

    /// The managers' own state, read with the ruleset: their rule numbers follow its changes.
    public func tools() -> ToolState { ToolStateReader.read(namespace: namespaceName) }

    /// The text listing and the iptables-nft-save texts (what follow's steps show).
    public func load() -> Ruleset {
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
        return Ruleset.build(nftListing: listing.output, iptablesSave: saves)
    }

    /// `load` with the rules' JSON expressions added (without them when the JSON cannot be read).
    public func loadWithJSON() -> Ruleset {
        var ruleset = load()
        if let json = loadJSON() { ruleset.addNftJSON(json) }
        return ruleset
    }

    /// How `loadJSON` reads the JSON form: in one `list ruleset`, or piece by piece without ever
    /// printing a table (libnftables releases with the one-flag-table bug, see below).
    public enum NativeListing: Sendable { case wholeRuleset, withoutTables }

    /// The way the last `loadJSON` read the ruleset, and the library release it named.
    public private(set) var lastNativeListing: NativeListing?
    public private(set) var libraryRelease: LibnftablesRelease?
    /// Tests only: read the JSON form this way whatever the release.
    public var forcedNativeListing: NativeListing?

    /// The ruleset's JSON listings, for evaluating native nft rules (hints, explain); nil if it fails.
    ///
    /// libnftables up to 1.0.9 (and so Debian 12's 1.0.6) frees the flag of a table that has exactly
    /// one (`flags owner`, `flags dormant`) while printing that table as JSON, then prints and
    /// releases the freed memory: garbage in the listing and a corrupted heap, which took the daemon
    /// down after a few hundred sessions (every fwtrace table has `flags owner`). Only the listings
    /// that print table objects do it (`list ruleset`, `list tables`, `list table`). On those
    /// releases the ruleset is read with listings that print none: `list chains`, then each chain
    /// with its rules and each named set and map with its elements (the only objects Ruleset's
    /// JSON parser reads). See docs/decisions.md.
    public func loadJSON() -> [NftListing]? {
        // `list chains` prints no table on any release; its metainfo names the library's release.
        let chains = context.run("list chains", json: true)
        guard chains.ok, let chainListing = try? NftListing(json: chains.output) else { return nil }
        libraryRelease = LibnftablesRelease(chainListing.version)
        let way = forcedNativeListing ?? (libraryRelease?.printsSingleFlagTablesSafely == true ? .wholeRuleset : .withoutTables)
        lastNativeListing = way
        switch way {
        case .wholeRuleset:
            let listing = context.run("list ruleset", json: true)
            guard listing.ok else { return nil }
            return (try? NftListing(json: listing.output)).map { [$0] }
        case .withoutTables:
            var listings: [NftListing] = []
            // Commands in JSON: the names go in as JSON strings (nft syntax cannot name every
            // chain the kernel holds), one command per run (1.0.6 fills its cache for the last
            // command of a run only). An object removed meanwhile fails and is left out.
            func list(_ kind: String, _ object: (family: String, table: String, name: String)) {
                var command = JSONWriter(capacity: 256)
                command.beginObject(); command.beginArray("nftables"); command.beginObject(); command.beginObject("list")
                command.beginObject(kind)
                command.string("family", object.family); command.string("table", object.table); command.string("name", object.name)
                command.endObject(); command.endObject(); command.endObject(); command.endArray(); command.endObject()
                let result = context.run(command.text, json: true)
                guard result.ok, let listing = try? NftListing(json: result.output) else { return }
                listings.append(listing)
            }
            for chain in chainListing.objects("chain") { list("chain", chain) }
            for kind in ["set", "map"] {
                // `list sets` / `list maps` give the names (1.0.6 leaves the elements out).
                let named = context.run("list \(kind)s", json: true)
                guard named.ok, let names = try? NftListing(json: named.output) else { return nil }
                for object in names.objects(kind) { list(kind, object) }
            }
            return listings
        }
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
