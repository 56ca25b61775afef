/// Native nft expressions that read more than the headers: `ct status`/`direction`, `meta mark`
/// and binary `&` (`meta mark & 0x4000 == 0x4000`, `tcp flags & (syn|ack) == syn`), `fib` (the
/// namespace's addresses and connected routes), `limit` (assumed under its rate, and so stated);
/// and what explain needs around them: the mark a rule sets, the unknown expression's name.
extension NftRuleEvaluator {
    static let tcpFlagNames: [String: Int] = ["fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64, "cwr": 128]
    /// ct status bits as nft names them, by ConntrackSummary's names.
    static let ctStatusNames: [String: (bit: Int, name: String)] = [
        "expected": (1, "expected"), "seen-reply": (2, "seen_reply"), "assured": (4, "assured"), "confirmed": (8, "confirmed"),
        "snat": (16, "src_nat"), "dnat": (32, "dst_nat"), "dying": (512, "dying"),
    ]

    /// One native rule, evaluated for explain: the answer, the verdict, the assumptions, the first
    /// expression it could not evaluate, the mark it sets.
    static func evaluatedRule(_ rule: Ruleset.Rule, table: Ruleset.TableKey, in ruleset: Ruleset, view: PacketView) -> PathPredictor.EvaluatedRule {
        let text = rule.text
        guard let expressions = rule.expressions else {
            var unknown = PathPredictor.EvaluatedRule(match: .unknown, action: .continue, text: text, handle: rule.handle)
            unknown.unknownMatch = "the rule's expressions (the JSON listing was not read)"
            return unknown
        }
        var context = Context(ruleset: ruleset, family: table.family, table: table.name, packet: view)
        let verdict = evaluate(expressions, context: &context)
        var evaluated = PathPredictor.EvaluatedRule(match: context.result, action: verdict, text: text, handle: rule.handle)
        if context.result != .doesNotMatch { evaluated.assumptions = context.assumptions }
        if context.result == .unknown { evaluated.unknownMatch = context.unknown.map(describe) }
        evaluated.mark = markEffect(rule)
        return evaluated
    }

    /// A short name for an expression: `xt match recent`, `ct helper`, `meta skuid`, `limit`.
    static func describe(_ expression: NftJSON) -> String {
        guard let (kind, body) = expression.single else { return "an expression" }
        if kind == "xt" { return "xt \(body["type"]?.string ?? "") \(body["name"]?.string ?? "")" }
        if kind == "match", let left = body["left"], let (leftKind, leftBody) = left.single {
            let key = leftBody["key"]?.string ?? leftBody["field"]?.string ?? ""
            let proto = leftBody["protocol"]?.string.map { $0 + " " } ?? ""
            return "\(leftKind == "payload" ? "" : leftKind + " ")\(proto)\(key) \(body["op"]?.string ?? "")"
        }
        return kind
    }

    /// `meta mark set N` (a constant); any other mark statement sets what fwtrace cannot compute.
    static func markEffect(_ rule: Ruleset.Rule) -> MarkEffect? {
        for expression in rule.expressions ?? [] {
            guard let (kind, body) = expression.single, kind == "mangle", body["key"]?["meta"]?["key"]?.string == "mark" else { continue }
            guard let n = body["value"]?.int, let value = UInt32(exactly: n) else { return .unknown }
            return .xset(value: value, mask: .max)
        }
        return nil
    }
}

extension NftRuleEvaluator.Context {
    /// `ct status`, `ct direction`; other ct keys are unknown.
    func ct(_ body: NftJSON) -> Resolved {
        guard body["dir"] == nil, let key = body["key"]?.string else { return .failure(.unknown) }
        // A packet without a conntrack entry: the ct expression breaks the rule, whatever the operator.
        if packet.ctState == .invalid || packet.ctState == .untracked { return .failure(.doesNotMatch) }
        switch key {
        case "status":
            guard let status = packet.environment.ctStatus else { return .failure(.unknown) }
            let names = NftRuleEvaluator.ctStatusNames
            let bits = names.values.filter { status.contains($0.name) }.reduce(0) { $0 | $1.bit }
            return .success(.bitmask(bits, names: names.mapValues(\.bit)))
        case "direction":
            guard packet.ctState == .new else { return .failure(.unknown) }
            return .success(.number(0, names: ["original": 0, "reply": 1]))
        default:
            return .failure(.unknown)
        }
    }

    /// Left-hand sides beyond payload, meta and ct: `fib`, binary `&`.
    func extra(_ kind: String, _ body: NftJSON) -> Resolved {
        switch kind {
        case "&":
            guard let parts = body.array, parts.count == 2 else { return .failure(.unknown) }
            let inner: NftRuleEvaluator.Operand
            switch resolve(parts[0]) {
            case .failure(let m): return .failure(m)
            case .success(let o): inner = o
            }
            let value: Int, names: [String: Int]
            switch inner {
            case .bitmask(let v, let n), .number(let v, let n): value = v; names = n
            default: return .failure(.unknown)
            }
            var mask = 0
            for part in parts[1].array ?? [parts[1]] {
                if let n = part.int { mask |= n } else if let s = part.string, let n = names[s] { mask |= n } else { return .failure(.unknown) }
            }
            return .success(.bitmask(value & mask, names: names))
        case "fib":
            return fib(body)
        default:
            return .failure(.unknown)
        }
    }

    /// `fib saddr [. mark] . iif oif` (reverse-path filtering, `… oif missing`): present when the
    /// source lies in a connected prefix of the input interface; `fib daddr type`: the address
    /// type of the namespace's own addresses. Other lookups depend on routes not known here.
    func fib(_ body: NftJSON) -> Resolved {
        let flags = Set(body["flags"]?.array?.compactMap(\.string) ?? [])
        let environment = packet.environment
        switch body["result"]?.string {
        case "oif", "oifname":
            guard flags.contains("saddr"), flags.contains("iif"), !flags.contains("daddr"), let iif = packet.iif,
                  let locals = environment.localAddresses else { return .failure(.unknown) }
            let connected = locals.contains { $0.interface == iif && $0.prefix.length > 0 && $0.prefix.contains(packet.src) }
            guard connected else { return .failure(.unknown) }
            return .success(.number(1, names: [:]))   // present: `== false` ("missing") does not hold
        case "type":
            guard flags == ["daddr"] || flags == ["saddr"] else { return .failure(.unknown) }
            let address = flags.contains("daddr") ? packet.dst : packet.src
            let types = ["unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5]
            if address.isV4 {
                guard let type = AddressType.ipv4(address, environment) else { return .failure(.unknown) }
                return .success(.number(types[type.lowercased()]!, names: types))
            }
            // IPv6: own addresses are local; whether another is unicast depends on the routes.
            guard let local = environment.isLocal(address), local || address.bytes[0] == 0xff else { return .failure(.unknown) }
            return .success(.number(local ? 2 : 5, names: types))
        default:
            return .failure(.unknown)
        }
    }

    /// `limit rate …`: under its rate when the environment allows the assumption (and then stated);
    /// `limit rate over …` does not match then.
    mutating func limit(_ body: NftJSON) {
        guard packet.environment.assumeUnderRates else { fold(.unknown); return }
        let over = body["inv"] == .bool(true)
        let rate = "limit rate \(over ? "over " : "")\(body["rate"]?.int ?? 0)/\(body["per"]?.string ?? "second")"
        assumptions.append(MatchAssumption(match: rate, assumed: over ? "not over its rate" : "under its rate"))
        fold(over ? .doesNotMatch : .matches)
    }
}
