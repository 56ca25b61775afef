import Foundation

/// One JSON listing from libnftables (`nft -j list …`): its objects in order, and the library
/// release its metainfo names.
public struct NftListing: Sendable {
    /// The `metainfo` object's `version`: the library's own release (libnftables prints the version
    /// it was built as, not the nft program's).
    public var version: String?
    /// The objects after the metainfo: (`"chain"`, its body), (`"rule"`, …), in listing order.
    public var items: [(kind: String, body: NftJSON)] = []

    public init(json: String) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        } catch {
            throw NftListingError(description: "not JSON: \(error.localizedDescription)")
        }
        guard let root = NftJSON(foundation: object), let objects = root["nftables"]?.array else {
            throw NftListingError(description: "not an `nft -j list` output (no \"nftables\" array)")
        }
        for object in objects {
            guard let (kind, body) = object.single else { continue }
            if kind == "metainfo" { version = body["version"]?.string; continue }
            items.append((kind, body))
        }
    }

    /// The objects of one kind (`"chain"`, `"set"`, `"map"`), by family, table and name; those
    /// without the three are left out.
    public func objects(_ kind: String) -> [(family: String, table: String, name: String)] {
        items.compactMap { item in
            guard item.kind == kind, let family = item.body["family"]?.string, let table = item.body["table"]?.string,
                  let name = item.body["name"]?.string else { return nil }
            return (family, table, name)
        }
    }
}

/// A JSON listing that is not one (not JSON, or no "nftables" array).
public struct NftListingError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A libnftables release, from the version its JSON listings name ("1.0.6", "1.0.6.1", "1.1.0").
public struct LibnftablesRelease: Sendable, Comparable, CustomStringConvertible {
    public let components: [Int]

    public init?(_ text: String?) {
        guard let text, !text.isEmpty else { return nil }
        var parts: [Int] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard let n = Int(part), n >= 0 else { return nil }
            parts.append(n)
        }
        components = parts
    }

    public var description: String { components.map(String.init).joined(separator: ".") }

    public static func < (a: LibnftablesRelease, b: LibnftablesRelease) -> Bool {
        for i in 0..<max(a.components.count, b.components.count) {
            let x = i < a.components.count ? a.components[i] : 0
            let y = i < b.components.count ? b.components[i] : 0
            if x != y { return x < y }
        }
        return false
    }

    public static func == (a: LibnftablesRelease, b: LibnftablesRelease) -> Bool { !(a < b) && !(b < a) }

    /// Whether this release prints a table with exactly one flag (`flags owner`, `flags dormant`)
    /// as JSON without a use-after-free: `table_flags_json()` in src/json.c took the one flag out of
    /// the array it had built with `json_unpack(root, "[o]", …)`, which borrows the reference, then
    /// freed the array and with it the flag, and printed the freed string. The bug came with JSON
    /// output (0.9.0); upstream commit b04512cf30de ("json: fix use after free in table_flags_json()")
    /// fixed it in 1.1.0, and the 1.0.6.1 stable release carries the fix (8cdc78eba779). A
    /// distribution that backported the fix into an older release still names that release: it
    /// counts as affected here, which costs only speed (docs/decisions.md).
    public var printsSingleFlagTablesSafely: Bool {
        if self >= LibnftablesRelease("1.1.0")! { return true }
        return self >= LibnftablesRelease("1.0.6.1")! && self < LibnftablesRelease("1.0.7")!
    }
}
