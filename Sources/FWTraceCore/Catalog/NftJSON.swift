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
