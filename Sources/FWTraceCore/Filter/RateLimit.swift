/// The kernel-side rate limit of the trace rule: `100` (per second) or `100/second`, `10/minute`.
public struct RateLimit: Equatable, Sendable {
    public var count: UInt32
    public var unit: String

    public init(count: UInt32, unit: String = "second") { self.count = count; self.unit = unit }

    public static func parse(_ text: String) throws -> RateLimit {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let units = ["second", "minute", "hour", "day"]
        guard (1...2).contains(parts.count), let count = UInt32(parts[0]), count > 0,
              parts.count == 1 || units.contains(String(parts[1])) else {
            throw FilterError("invalid rate limit '\(text)': packets per second, or N/second, N/minute, N/hour",
                              example: "--limit 100 or --limit 10/minute (or --no-limit)")
        }
        return RateLimit(count: count, unit: parts.count == 2 ? String(parts[1]) : "second")
    }

    public var nft: String { "limit rate \(count)/\(unit)" }
}

extension RateLimit {
    /// The `-m limit` arguments of the legacy TRACE rule.
    public var iptables: [String] {
        let unit = ["second": "sec", "minute": "min", "hour": "hour", "day": "day"][self.unit] ?? "sec"
        return ["-m", "limit", "--limit", "\(count)/\(unit)"]
    }
}

extension RateLimit {
    /// Packets per second, for summing limits against the daemon's overall bound.
    public var perSecond: Double {
        switch unit {
        case "minute": return Double(count) / 60
        case "hour": return Double(count) / 3600
        case "day": return Double(count) / 86400
        default: return Double(count)
        }
    }
}
