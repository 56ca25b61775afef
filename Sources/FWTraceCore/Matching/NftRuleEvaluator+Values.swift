import Foundation

/// Right-hand sides of nft matches: literal values, ranges, prefixes, anonymous and named sets,
/// bitmasks, and verdict maps.
extension NftRuleEvaluator.Context {
    /// `operand op right` for op "==" or "in" (a "!=" is the negation of "==").
    func compare(_ operand: NftRuleEvaluator.Operand, _ right: NftJSON, op: String) -> RuleMatch {
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

    func membership(_ operand: NftRuleEvaluator.Operand, _ elements: [NftJSON]) -> RuleMatch {
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
    func element(_ operand: NftRuleEvaluator.Operand, _ value: NftJSON) -> RuleMatch {
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
        if case .bool(let b) = value { return b ? 1 : 0 }   // fib's `exists`/`missing`
        return nil
    }

    // MARK: verdict maps

    /// `vmap`: the verdict of the element the key equals; none → the rule does not match.
    func vmap(_ body: NftJSON) -> (RuleMatch, RuleVerdict?) {
        guard let key = body["key"], let data = body["data"] else { return (.unknown, nil) }
        let operand: NftRuleEvaluator.Operand
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

extension NftRuleEvaluator {
    /// A verdict as a map value: `{"accept": null}`, `{"jump": {"target": "x"}}`, ...
    static func verdict(_ value: NftJSON) -> RuleVerdict? {
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
