/// A filter as text fields, the way a user, a config file or a control request writes it: one
/// place turns them into a validated `TraceFilter`, whatever they came from.
public struct FilterSpec: Equatable, Sendable {
    public var proto: String?
    public var sport: String?
    public var dport: String?
    public var src: String?
    public var dst: String?
    public var inInterface: String?
    public var outInterface: String?
    /// "ipv4", "ipv6" or nil for both.
    public var family: String?

    public init() {}

    public static let fieldNames = ["proto", "sport", "dport", "src", "dst", "in_interface", "out_interface", "family"]

    public func makeFilter() throws -> TraceFilter {
        var filter = TraceFilter()
        switch family {
        case nil: break
        case "ipv4"?, "4"?, "ip"?: filter.families = [.ip]
        case "ipv6"?, "6"?, "ip6"?: filter.families = [.ip6]
        case let other?: throw FilterError("invalid family '\(other)': ipv4 or ipv6 (leave it out to trace both)", example: "family = \"ipv4\"")
        }
        if let proto { filter.proto = try TraceFilter.parseProto(proto) }
        if let sport { filter.sport = try TraceFilter.parsePorts(sport, option: "--sport") }
        if let dport { filter.dport = try TraceFilter.parsePorts(dport, option: "--dport") }
        if let src { filter.src = try TraceFilter.parsePrefix(src, option: "--src") }
        if let dst { filter.dst = try TraceFilter.parsePrefix(dst, option: "--dst") }
        if let inInterface { filter.inInterface = try TraceFilter.parseInterface(inInterface, option: "--in-interface") }
        if let outInterface { filter.outInterface = try TraceFilter.parseInterface(outInterface, option: "--out-interface") }
        try filter.validate()
        return filter
    }

    public subscript(field: String) -> String? {
        get {
            switch field {
            case "proto": return proto
            case "sport": return sport
            case "dport": return dport
            case "src": return src
            case "dst": return dst
            case "in_interface": return inInterface
            case "out_interface": return outInterface
            case "family": return family
            default: return nil
            }
        }
        set {
            switch field {
            case "proto": proto = newValue
            case "sport": sport = newValue
            case "dport": dport = newValue
            case "src": src = newValue
            case "dst": dst = newValue
            case "in_interface": inInterface = newValue
            case "out_interface": outInterface = newValue
            case "family": family = newValue
            default: break
            }
        }
    }
}
