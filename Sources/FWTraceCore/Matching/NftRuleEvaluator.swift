import Foundation

extension PacketView {
    public init(family: PacketSummary.Family, protocolNumber: UInt8? = nil, src: IPAddress, dst: IPAddress,
                sport: UInt16? = nil, dport: UInt16? = nil, icmpType: UInt8? = nil, tcpFlags: UInt8? = nil,
                iif: String? = nil, oif: String? = nil, ctState: ConntrackState? = nil) {
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
    static let ctStateBits = Dictionary(uniqueKeysWithValues: ConntrackState.allCases.map { ($0.rawValue, $0.bit) })
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
    /// A rule without expressions (the JSON listing was not read, or lacked it) cannot be told.
    public static func evaluate(_ rule: Ruleset.Rule, table: String, tableFamily: TableFamily,
                                in ruleset: Ruleset, packet: PacketView) -> (RuleMatch, RuleVerdict) {
        guard let expressions = rule.expressions else { return (.unknown, .continue) }
        var context = Context(ruleset: ruleset, family: tableFamily, table: table, packet: packet)
        let verdict = evaluate(expressions, context: &context)
        return (context.result, verdict)
    }

    /// The expressions of one rule, in order, folded into `context`; the verdict they apply.
    static func evaluate(_ expressions: [NftJSON], context: inout Context) -> RuleVerdict {
        var verdict = RuleVerdict.continue
        loop: for expression in expressions {
            context.current = expression
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
            case "limit":
                context.limit(body)
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
        return verdict
    }

    struct Context {
        let ruleset: Ruleset
        let family: TableFamily
        let table: String
        let packet: PacketView
        var result = RuleMatch.matches
        /// The expression being evaluated, the first one unknown, the assumptions made.
        var current: NftJSON = .null
        var unknown: NftJSON?
        var assumptions: [MatchAssumption] = []

        mutating func fold(_ m: RuleMatch) {
            if m == .unknown && unknown == nil { unknown = current }
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
                guard body["key"]?.string == "state", body["dir"] == nil else { return ct(body) }
                guard let state = packet.ctState else { return .failure(.unknown) }
                return .success(.bitmask(state.bit, names: ctStateBits))
            default:
                return extra(kind, body)
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
            case ("tcp", "flags"):
                guard let flags = packet.tcpFlags else { return .failure(.unknown) }
                return .success(.bitmask(Int(flags), names: tcpFlagNames))
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
            case "mark":
                guard let mark = packet.environment.mark else { return .failure(.unknown) }
                return .success(.bitmask(Int(mark), names: [:]))
            default:
                return .failure(.unknown)
            }
        }
    }
}
