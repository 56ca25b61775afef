import Foundation

/// A JSON value, Sendable (JSONSerialization's output converted into this enum).
public indirect enum NftJSON: Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([NftJSON]), object([String: NftJSON])

    /// Converts a value from JSONSerialization; nil for a type JSON does not have.
    public init?(foundation value: Any) {
        // Containers are tried before NSNumber: casting a Swift array or dictionary to NSNumber
        // bridges it to an NSArray/NSDictionary first, element by element, at every level.
        switch value {
        case let s as String: self = .string(s)
        case let d as [String: Any]:
            var out: [String: NftJSON] = [:]
            out.reserveCapacity(d.count)
            for (k, item) in d { guard let v = NftJSON(foundation: item) else { return nil }; out[k] = v }
            self = .object(out)
        case let a as [Any]:
            var out: [NftJSON] = []
            out.reserveCapacity(a.count)
            for item in a { guard let v = NftJSON(foundation: item) else { return nil }; out.append(v) }
            self = .array(out)
        case is NSNull: self = .null
        case let n as NSNumber:
            // Booleans come back as NSNumber too; their Objective-C type is "c" (char), which
            // JSONSerialization never uses for a number it parsed.
            if String(cString: n.objCType) == "c" { self = .bool(n.boolValue) } else { self = .number(n.doubleValue) }
        default: return nil
        }
    }

    public subscript(key: String) -> NftJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    /// The number as an integer, when it is one.
    public var int: Int? {
        guard case .number(let n) = self, n.rounded() == n, abs(n) < 9.0e15 else { return nil }
        return Int(n)
    }
    public var array: [NftJSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: [String: NftJSON]? { if case .object(let o) = self { return o } else { return nil } }
    /// The only key of a one-key object (`{"accept": null}`, `{"match": {...}}`), with its value.
    public var single: (key: String, value: NftJSON)? {
        guard case .object(let o) = self, o.count == 1, let (k, v) = o.first else { return nil }
        return (k, v)
    }
}

public struct NftRulesetError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A native nftables ruleset, from what `nft -j list ruleset` prints: chains (base chain hook,
/// priority, type, policy), rules with their expressions, and set elements.
public struct NftRuleset: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var handle: UInt64
        /// 1-based in its chain.
        public var position: Int
        public var expressions: [NftJSON]
        public init(handle: UInt64, position: Int, expressions: [NftJSON]) {
            self.handle = handle; self.position = position; self.expressions = expressions
        }
    }

    public struct Chain: Sendable, Equatable {
        public var family: TableFamily
        public var table: String
        public var name: String
        public var hook: Hook?
        public var priority: Int?
        public var type: String?
        public var policy: String?
        public var rules: [Rule]
        public var isBaseChain: Bool { hook != nil }
    }

    struct ObjectKey: Hashable, Sendable { var family: TableFamily; var table: String; var name: String }

    /// Chains in listing order.
    public private(set) var chains: [Chain] = []
    var chainIndex: [ObjectKey: Int] = [:]
    /// Elements of named sets and maps (a map element is `[key, value]`), by family, table and name.
    var sets: [ObjectKey: [NftJSON]] = [:]

    public init() {}

    public static func parse(json: String) throws -> NftRuleset {
        NftRuleset(listings: [try NftListing(json: json)])
    }

    /// The ruleset from several listings read in turn (`list chain …` for each chain, `list set …`
    /// for each set: how RulesetReader reads it on libnftables releases that cannot print a
    /// one-flag table), their objects taken in order as if they were one `list ruleset`.
    public init(listings: [NftListing]) {
        for listing in listings {
            for (kind, body) in listing.items {
                switch kind {
                case "chain": addChain(body)
                case "rule": addRule(body)
                case "set", "map":
                    guard let key = Self.objectKey(body, nameKey: "name") else { continue }
                    sets[key] = body["elem"]?.array ?? []
                default: continue   // table, flowtable, counter, quota, ct helper, ...
                }
            }
        }
    }

    static func objectKey(_ body: NftJSON, nameKey: String) -> ObjectKey? {
        guard let family = body["family"]?.string, let table = body["table"]?.string,
              let name = body[nameKey]?.string else { return nil }
        return ObjectKey(family: TableFamily(keyword: family), table: table, name: name)
    }

    mutating func addChain(_ body: NftJSON) {
        guard let key = Self.objectKey(body, nameKey: "name") else { return }
        var priority: Int?
        switch body["prio"] {
        case .number?: priority = body["prio"]?.int
        case .string(let s)?: priority = RuleCatalog.parsePriority(s)
        default: priority = nil
        }
        let chain = Chain(family: key.family, table: key.table, name: key.name,
                          hook: body["hook"]?.string.map { Hook(rawValue: $0) ?? .unknown },
                          priority: priority, type: body["type"]?.string, policy: body["policy"]?.string, rules: [])
        if let i = chainIndex[key] { chains[i] = chain } else { chainIndex[key] = chains.count; chains.append(chain) }
    }

    mutating func addRule(_ body: NftJSON) {
        guard let key = Self.objectKey(body, nameKey: "chain") else { return }
        if chainIndex[key] == nil {
            chainIndex[key] = chains.count
            chains.append(Chain(family: key.family, table: key.table, name: key.name, rules: []))
        }
        let i = chainIndex[key]!
        let handle = body["handle"]?.number.flatMap { $0 >= 0 ? UInt64(exactly: $0) : nil } ?? 0
        chains[i].rules.append(Rule(handle: handle, position: chains[i].rules.count + 1,
                                    expressions: body["expr"]?.array ?? []))
    }

    public func chain(_ family: TableFamily, _ table: String, _ name: String) -> Chain? {
        chainIndex[ObjectKey(family: family, table: table, name: name)].map { chains[$0] }
    }

    /// The elements of a named set or map (without the leading "@"); nil when there is none.
    /// A map element is a two-element array `[key, value]`.
    public func setElements(_ family: TableFamily, _ table: String, _ name: String) -> [NftJSON]? {
        sets[ObjectKey(family: family, table: table, name: name)]
    }

    /// Base chains a packet of this family meets at `hook` (ip+inet for IPv4, ip6+inet for IPv6), by priority.
    /// Equal priorities: the kernel puts a newly registered hook before those already there with the
    /// same priority, so the later-listed (later-created) chain comes first.
    public func baseChains(at hook: Hook, for family: PacketSummary.Family) -> [Chain] {
        let families: Set<TableFamily> = family == .ip ? [.ip, .inet] : [.ip6, .inet]
        let found = chains.enumerated().filter { families.contains($0.element.family) && $0.element.hook == hook }
        return found.sorted { a, b in
            let pa = a.element.priority ?? 0, pb = b.element.priority ?? 0
            return pa != pb ? pa < pb : a.offset > b.offset
        }.map(\.element)
    }
}

public enum NftVerdict: Equatable, Sendable {
    case `continue`, accept, drop, reject, `return`, queue
    case jump(String), goto(String)
    /// dnat, and redirect (address nil). A nil port leaves the port as it was.
    case dnat(address: IPAddress?, port: UInt16?)
    /// snat / masquerade: ends the nat chain, accept.
    case snat
}

extension PacketView {
    public init(family: PacketSummary.Family, protocolNumber: UInt8? = nil, src: IPAddress, dst: IPAddress,
                sport: UInt16? = nil, dport: UInt16? = nil, icmpType: UInt8? = nil, tcpFlags: UInt8? = nil,
                iif: String? = nil, oif: String? = nil, ctState: String? = nil) {
        self.family = family; self.protocolNumber = protocolNumber; self.src = src; self.dst = dst
        self.sport = sport; self.dport = dport; self.icmpType = icmpType; self.tcpFlags = tcpFlags
        self.iif = iif; self.oif = oif; self.ctState = ctState
    }
}

/// Decides whether a native nftables rule (from `nft -j`) matches a packet, without the kernel, in
/// three values like `IptablesRuleEvaluator`: an expression it does not understand makes the
/// answer `.unknown` unless another expression of the rule certainly does not match.
public enum NftRuleEvaluator {
    /// A value taken from the packet, with the vocabulary its right-hand side may use.
    enum Operand {
        case address(IPAddress)
        case number(Int, names: [String: Int])
        /// An interface name; `wildcard` when a trailing "*" in the rule is a prefix match (iifname).
        case interface(String, wildcard: Bool)
        /// A single bit of a bitmask type (ct state), with the names of the bits.
        case bitmask(Int, names: [String: Int])
    }

    static let protocolNames: [String: Int] = IptablesRuleEvaluator.protocolNumbers.mapValues(Int.init)
        .merging(["igmp": 2, "ipv6-icmp": 58, "comp": 108, "ipip": 4, "ipencap": 4], uniquingKeysWith: { a, _ in a })
    static let icmpNames: [String: Int] = [
        "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
        "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12,
        "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
        "address-mask-request": 17, "address-mask-reply": 18,
    ]
    static let icmpv6Names: [String: Int] = [
        "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
        "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
        "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
        "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138,
        "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143,
    ]
    static let serviceNames: [String: Int] = [
        "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "ntp": 123,
        "https": 443, "submission": 587, "imaps": 993,
    ]
    static let ctStateBits: [String: Int] = ["invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64]
    static let portProtocols: Set<UInt8> = [6, 17, 33, 132, 136]
    /// Payload protocols whose use makes nft add a dependency on the transport protocol.
    static let payloadTransport: [String: UInt8] = [
        "tcp": 6, "udp": 17, "udplite": 136, "sctp": 132, "dccp": 33, "icmp": 1, "icmpv6": 58,
        "esp": 50, "ah": 51, "comp": 108, "igmp": 2,
    ]
    /// Statements that change nothing this evaluator looks at and cannot end the rule.
    static let inertStatements: Set<String> = ["counter", "log", "comment", "notrack", "ct helper", "ct timeout", "ct expectation"]

    /// Whether the rule's matches hold for the packet, and the verdict it then applies
    /// (.continue when it has none). `tableFamily` is the rule's table family.
    public static func evaluate(_ rule: NftRuleset.Rule, table: String, tableFamily: TableFamily,
                                in ruleset: NftRuleset, packet: PacketView) -> (RuleMatch, NftVerdict) {
        var context = Context(ruleset: ruleset, family: tableFamily, table: table, packet: packet)
        var verdict = NftVerdict.continue
        loop: for expression in rule.expressions {
            guard let (kind, body) = expression.single else { context.fold(.unknown); continue }
            switch kind {
            case "match":
                context.fold(context.match(body))
            case _ where inertStatements.contains(kind):
                continue
            case "mangle":
                // Setting a mark or other metadata changes nothing matched here; rewriting the
                // packet's headers would make what follows (and later rules) see another packet.
                if body["key"]?["meta"] != nil || body["key"]?["ct"] != nil { continue }
                context.fold(.unknown)
            case "accept": verdict = .accept; break loop
            case "drop": verdict = .drop; break loop
            case "reject": verdict = .reject; break loop
            case "return": verdict = .return; break loop
            case "continue": verdict = .continue; break loop
            case "queue": verdict = .queue; break loop
            case "jump", "goto":
                guard let target = body["target"]?.string else { context.fold(.unknown); break loop }
                verdict = kind == "jump" ? .jump(target) : .goto(target)
                break loop
            case "dnat", "redirect":
                guard context.natApplies(body) else { continue }
                var port: UInt16?
                if let p = body["port"] {
                    if let n = p.int, let v = UInt16(exactly: n) { port = v } else { context.fold(.unknown) }
                }
                var address: IPAddress?
                if kind == "dnat", let a = body["addr"] {
                    if let s = a.string, let ip = IPAddress(s) { address = ip } else { context.fold(.unknown) }
                }
                verdict = .dnat(address: address, port: port)
                break loop
            case "snat", "masquerade":
                guard context.natApplies(body) else { continue }
                verdict = .snat
                break loop
            case "vmap":
                let (m, v) = context.vmap(body)
                context.fold(m)
                if let v { verdict = v }
                break loop
            default:
                // limit, quota, xt, set/map updates, meters, dup, fwd, tproxy, ...: not understood.
                context.fold(.unknown)
            }
        }
        return (context.result, verdict)
    }

    struct Context {
        let ruleset: NftRuleset
        let family: TableFamily
        let table: String
        let packet: PacketView
        var result = RuleMatch.matches

        mutating func fold(_ m: RuleMatch) {
            if m == .doesNotMatch { result = .doesNotMatch } else if m == .unknown && result == .matches { result = .unknown }
        }

        /// A nat statement in an inet table names the family it is for; for the other family the
        /// kernel does nothing and the rule goes on.
        func natApplies(_ body: NftJSON) -> Bool {
            guard family == .inet, let f = body["family"]?.string else { return true }
            return (f == "ip" && packet.family == .ip) || (f == "ip6" && packet.family == .ip6) || f == "inet"
        }

        // MARK: matches

        func match(_ body: NftJSON) -> RuleMatch {
            guard let op = body["op"]?.string, let left = body["left"], let right = body["right"] else { return .unknown }
            let operand: Operand
            switch resolve(left) {
            case .failure(let m): return m
            case .success(let o): operand = o
            }
            switch op {
            case "==", "in":
                return compare(operand, right, op: op)
            case "!=":
                return negate(compare(operand, right, op: "=="))
            default:
                return .unknown
            }
        }

        func negate(_ m: RuleMatch) -> RuleMatch {
            m == .matches ? .doesNotMatch : m == .doesNotMatch ? .matches : .unknown
        }

        enum Resolved { case success(Operand), failure(RuleMatch) }

        /// The dependencies nft adds for payload expressions anywhere inside `left`: `tcp dport`
        /// needs `meta l4proto tcp`, `ip saddr` needs an IPv4 packet.
        func dependencies(_ expression: NftJSON) -> RuleMatch {
            var result = RuleMatch.matches
            func visit(_ e: NftJSON) {
                switch e {
                case .object(let o):
                    if let payload = o["payload"], let proto = payload["protocol"]?.string {
                        let m = dependency(proto)
                        if m == .doesNotMatch { result = .doesNotMatch } else if m == .unknown && result == .matches { result = .unknown }
                    }
                    for v in o.values { visit(v) }
                case .array(let a): a.forEach(visit)
                default: break
                }
            }
            visit(expression)
            return result
        }

        func dependency(_ proto: String) -> RuleMatch {
            switch proto {
            case "ip": return packet.family == .ip ? .matches : .doesNotMatch
            case "ip6": return packet.family == .ip6 ? .matches : .doesNotMatch
            case "th": return .matches
            default:
                guard let number = payloadTransport[proto] else { return .unknown }
                guard let actual = packet.protocolNumber else { return .unknown }
                return actual == number ? .matches : .doesNotMatch
            }
        }

        func resolve(_ left: NftJSON) -> Resolved {
            let deps = dependencies(left)
            if deps == .doesNotMatch { return .failure(.doesNotMatch) }
            guard let (kind, body) = left.single else { return .failure(.unknown) }
            switch kind {
            case "payload":
                guard deps == .matches, let proto = body["protocol"]?.string, let field = body["field"]?.string else {
                    return .failure(.unknown)
                }
                return payload(proto, field)
            case "meta":
                guard let key = body["key"]?.string else { return .failure(.unknown) }
                return meta(key)
            case "ct":
                guard body["key"]?.string == "state", body["dir"] == nil else { return .failure(.unknown) }
                guard let state = packet.ctState, let bit = ctStateBits[state.lowercased()] else { return .failure(.unknown) }
                return .success(.bitmask(bit, names: ctStateBits))
            default:
                return .failure(.unknown)
            }
        }

        func payload(_ proto: String, _ field: String) -> Resolved {
            switch (proto, field) {
            case ("ip", "saddr"), ("ip6", "saddr"): return .success(.address(packet.src))
            case ("ip", "daddr"), ("ip6", "daddr"): return .success(.address(packet.dst))
            case ("ip", "protocol"):
                guard let p = packet.protocolNumber else { return .failure(.unknown) }
                return .success(.number(Int(p), names: protocolNames))
            case ("tcp", "sport"), ("udp", "sport"), ("sctp", "sport"), ("udplite", "sport"), ("dccp", "sport"),
                 ("tcp", "dport"), ("udp", "dport"), ("sctp", "dport"), ("udplite", "dport"), ("dccp", "dport"):
                guard let port = field == "sport" ? packet.sport : packet.dport else { return .failure(.unknown) }
                return .success(.number(Int(port), names: serviceNames))
            case ("th", "sport"), ("th", "dport"):
                // No dependency: bytes 0-3 of whatever transport header there is.
                guard let p = packet.protocolNumber, portProtocols.contains(p),
                      let port = field == "sport" ? packet.sport : packet.dport else { return .failure(.unknown) }
                return .success(.number(Int(port), names: serviceNames))
            case ("icmp", "type"), ("icmpv6", "type"):
                guard let t = packet.icmpType else { return .failure(.unknown) }
                return .success(.number(Int(t), names: proto == "icmp" ? icmpNames : icmpv6Names))
            default:
                return .failure(.unknown)
            }
        }

        func meta(_ key: String) -> Resolved {
            switch key {
            case "l4proto":
                guard let p = packet.protocolNumber else { return .failure(.unknown) }
                return .success(.number(Int(p), names: protocolNames))
            case "nfproto":
                return .success(.number(packet.family == .ip ? 2 : 10, names: ["ipv4": 2, "ipv6": 10]))
            case "protocol":
                return .success(.number(packet.family == .ip ? 0x0800 : 0x86dd,
                                        names: ["ip": 0x0800, "ip6": 0x86dd, "arp": 0x0806, "vlan": 0x8100]))
            case "iifname", "oifname", "iif", "oif":
                guard let name = key.hasPrefix("i") ? packet.iif : packet.oif else { return .failure(.unknown) }
                return .success(.interface(name, wildcard: key.hasSuffix("name")))
            default:
                return .failure(.unknown)
            }
        }

        /// `operand op right` for op "==" or "in" (a "!=" is the negation of "==").
        func compare(_ operand: Operand, _ right: NftJSON, op: String) -> RuleMatch {
            if let name = right.string, name.hasPrefix("@") {
                guard let elements = ruleset.setElements(family, table, String(name.dropFirst())) else { return .unknown }
                return membership(operand, elements.map(Self.setKey))
            }
            if let elements = right["set"]?.array, right.object?.count == 1 {
                return membership(operand, elements.map(Self.setKey))
            }
            if case .bitmask(let bit, let names) = operand {
                // A bitmask value: a name, a number, a list ("new,established": the bits OR'd), or
                // {"|": [...]}. "in" tests any bit (`ct state established,related`); "==" compares
                // the whole value (`ct state == new,established` never matches one packet).
                var parts: [NftJSON]
                if let list = right.array { parts = list } else if let list = right["|"]?.array { parts = list } else { parts = [right] }
                var mask = 0
                for part in parts {
                    if let s = part.string, let v = names[s] { mask |= v } else if let n = part.int { mask |= n } else { return .unknown }
                }
                if op == "in" { return bit & mask != 0 ? .matches : .doesNotMatch }
                return bit == mask ? .matches : .doesNotMatch
            }
            if let list = right.array { return membership(operand, list) }
            return element(operand, right)
        }

        /// A set element without its per-element extras (timeout, counter); a map element's key.
        static func setKey(_ element: NftJSON) -> NftJSON {
            var e = element
            if let pair = e.array, pair.count == 2 { e = pair[0] }
            if let val = e["elem"]?["val"] { e = val }
            return e
        }

        func membership(_ operand: Operand, _ elements: [NftJSON]) -> RuleMatch {
            var sawUnknown = false
            for e in elements {
                switch element(operand, e) {
                case .matches: return .matches
                case .unknown: sawUnknown = true
                case .doesNotMatch: break
                }
            }
            return sawUnknown ? .unknown : .doesNotMatch
        }

        /// Whether the operand equals (or lies in the range or prefix of) one right-hand value.
        func element(_ operand: Operand, _ value: NftJSON) -> RuleMatch {
            let value = Self.setKey(value)
            if let bounds = value["range"]?.array {
                guard bounds.count == 2 else { return .unknown }
                switch operand {
                case .address(let a):
                    guard let lo = bounds[0].string.flatMap(IPAddress.init), let hi = bounds[1].string.flatMap(IPAddress.init),
                          lo.isV4 == a.isV4, hi.isV4 == a.isV4 else { return .unknown }
                    let b = a.bytes
                    return !b.lexicographicallyPrecedes(lo.bytes) && !hi.bytes.lexicographicallyPrecedes(b) ? .matches : .doesNotMatch
                case .number(let n, let names):
                    guard let lo = Self.number(bounds[0], names), let hi = Self.number(bounds[1], names) else { return .unknown }
                    return lo <= n && n <= hi ? .matches : .doesNotMatch
                default:
                    return .unknown
                }
            }
            if let prefix = value["prefix"] {
                guard case .address(let a) = operand, let addr = prefix["addr"]?.string, let len = prefix["len"]?.int,
                      let p = IPPrefix("\(addr)/\(len)"), p.address.isV4 == a.isV4 else { return .unknown }
                return p.contains(a) ? .matches : .doesNotMatch
            }
            if let nested = value["set"]?.array { return membership(operand, nested) }
            switch operand {
            case .address(let a):
                guard let s = value.string else { return .unknown }
                if let ip = IPAddress(s) { return ip == a ? .matches : .doesNotMatch }
                if let p = IPPrefix(s), p.address.isV4 == a.isV4 { return p.contains(a) ? .matches : .doesNotMatch }
                return .unknown
            case .number(let n, let names):
                guard let v = Self.number(value, names) else { return .unknown }
                return v == n ? .matches : .doesNotMatch
            case .interface(let name, let wildcard):
                guard let pattern = value.string else { return .unknown }
                if wildcard, pattern.hasSuffix("*"), !pattern.hasSuffix("\\*") {
                    return name.hasPrefix(String(pattern.dropLast())) ? .matches : .doesNotMatch
                }
                let literal = pattern.hasSuffix("\\*") ? String(pattern.dropLast(2)) + "*" : pattern
                return name == literal ? .matches : .doesNotMatch
            case .bitmask(let bit, let names):
                guard let v = value.string.flatMap({ names[$0] }) ?? value.int else { return .unknown }
                return v == bit ? .matches : .doesNotMatch
            }
        }

        static func number(_ value: NftJSON, _ names: [String: Int]) -> Int? {
            if let n = value.int { return n }
            if let s = value.string { return names[s] ?? Int(s) }
            return nil
        }

        // MARK: verdict maps

        /// `vmap`: the verdict of the element the key equals; none → the rule does not match.
        func vmap(_ body: NftJSON) -> (RuleMatch, NftVerdict?) {
            guard let key = body["key"], let data = body["data"] else { return (.unknown, nil) }
            let operand: Operand
            switch resolve(key) {
            case .failure(let m): return (m, nil)
            case .success(let o): operand = o
            }
            let elements: [NftJSON]
            if let name = data.string, name.hasPrefix("@") {
                guard let found = ruleset.setElements(family, table, String(name.dropFirst())) else { return (.unknown, nil) }
                elements = found
            } else if let list = data["set"]?.array {
                elements = list
            } else {
                return (.unknown, nil)
            }
            var sawUnknown = false
            for e in elements {
                guard let pair = e.array, pair.count == 2 else { sawUnknown = true; continue }
                switch element(operand, pair[0]) {
                case .matches:
                    guard let v = NftRuleEvaluator.verdict(pair[1]) else { return (.unknown, nil) }
                    return (.matches, v)
                case .unknown: sawUnknown = true
                case .doesNotMatch: break
                }
            }
            return (sawUnknown ? .unknown : .doesNotMatch, nil)
        }
    }

    /// A verdict as a map value: `{"accept": null}`, `{"jump": {"target": "x"}}`, ...
    static func verdict(_ value: NftJSON) -> NftVerdict? {
        guard let (kind, body) = value.single else { return nil }
        switch kind {
        case "accept": return .accept
        case "drop": return .drop
        case "reject": return .reject
        case "return": return .return
        case "continue": return .continue
        case "queue": return .queue
        case "jump": return body["target"]?.string.map { .jump($0) }
        case "goto": return body["target"]?.string.map { .goto($0) }
        default: return nil
        }
    }
}
