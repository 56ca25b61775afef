import Foundation

/// What explain reads of the namespace besides the ruleset, parsed from the texts the kernel and
/// iproute2 give: its own addresses (`ip -j addr show`) and recent's lists (/proc/net/xt_recent).
public enum NamespaceState {
    /// Each address of `ip -j addr show` with its prefix length and interface.
    public static func localAddresses(ipJSON: String) -> [MatchEnvironment.LocalAddress] {
        guard let links = try? JSONSerialization.jsonObject(with: Data(ipJSON.utf8)) as? [[String: Any]] else { return [] }
        var out: [MatchEnvironment.LocalAddress] = []
        for link in links {
            let name = link["ifname"] as? String
            for info in link["addr_info"] as? [[String: Any]] ?? [] {
                guard let local = info["local"] as? String, let length = info["prefixlen"] as? Int,
                      let prefix = IPPrefix("\(local)/\(length)") else { continue }
                out.append(MatchEnvironment.LocalAddress(interface: name, prefix: prefix))
            }
        }
        return out
    }

    /// `--own-address ADDRESS[/LENGTH][@INTERFACE]`: nil when malformed.
    public static func ownAddress(_ text: String) -> MatchEnvironment.LocalAddress? {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let prefix = IPPrefix(first) else { return nil }
        if parts.count == 2, parts[1].isEmpty { return nil }
        return MatchEnvironment.LocalAddress(interface: parts.count == 2 ? parts[1] : nil, prefix: prefix)
    }

    /// One /proc/net/xt_recent/NAME file: each address with its hits (the timestamps listed
    /// after `oldest_pkt: N`), of any age.
    ///   src=10.77.0.2 ttl: 64 last_seen: 4302606560 oldest_pkt: 2 4302601000, 4302606560
    public static func recentList(_ text: String) -> [IPAddress: Int] {
        var out: [IPAddress: Int] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let first = words.first, first.hasPrefix("src="), let address = IPAddress(String(first.dropFirst(4))),
                  let oldest = words.firstIndex(of: "oldest_pkt:"), oldest + 1 < words.count else { continue }
            let stamps = words[(oldest + 2)...].joined(separator: " ").split(separator: ",")
            out[address] = stamps.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
        }
        return out
    }

    /// Every list of the directory (/proc/net/xt_recent): what the recent match reads.
    public static func recentLists(directory: String = "/proc/net/xt_recent") -> [String: [IPAddress: Int]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var lists: [String: [IPAddress: Int]] = [:]
        for name in names {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
            lists[name] = recentList(text)
        }
        return lists
    }
}
