/// A small JSON object writer: keys in the order written, strings escaped per RFC 8259, no
/// reflection and no Foundation, so encoding a record costs appends to one buffer.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma: [Bool] = []

    public init() { text.reserveCapacity(1024) }

    public mutating func beginObject(_ key: String? = nil) { prefix(key); text += "{"; needsComma.append(false) }
    public mutating func endObject() { text += "}"; needsComma.removeLast() }
    public mutating func beginArray(_ key: String? = nil) { prefix(key); text += "["; needsComma.append(false) }
    public mutating func endArray() { text += "]"; needsComma.removeLast() }

    public mutating func string(_ key: String?, _ value: String) { prefix(key); Self.escape(value, into: &text) }
    public mutating func string(_ key: String?, _ value: String?) {
        if let value { string(key, value) } else { null(key) }
    }
    public mutating func int<T: BinaryInteger>(_ key: String?, _ value: T) { prefix(key); text += String(value) }
    public mutating func bool(_ key: String?, _ value: Bool) { prefix(key); text += value ? "true" : "false" }
    public mutating func null(_ key: String?) { prefix(key); text += "null" }

    private mutating func prefix(_ key: String?) {
        if let last = needsComma.last {
            if last { text += "," }
            needsComma[needsComma.count - 1] = true
        }
        if let key { Self.escape(key, into: &text); text += ":" }
    }

    static let hex: [Character] = Array("0123456789abcdef")

    public static func escape(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let v = Int(scalar.value)
                    out += "\\u00"; out.append(hex[v >> 4]); out.append(hex[v & 0xf])
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// RFC 3339 in UTC with microseconds, computed without Foundation's date formatters.
public enum Timestamp {
    public static func rfc3339(_ seconds: Double) -> String {
        let micros = Int64((seconds * 1_000_000).rounded(.down))
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 { rest += 86_400_000_000; days -= 1 }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let hour = rest / 3_600_000_000, minute = rest / 60_000_000 % 60, second = rest / 1_000_000 % 60
        let fraction = rest % 1_000_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(fraction, 6))Z"
    }
}
