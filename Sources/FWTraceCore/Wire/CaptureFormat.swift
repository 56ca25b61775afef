/// Text form of captured netlink datagrams: "# comment" lines, then "<time> <hex>" per datagram.
public enum CaptureFormat {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func line(_ bytes: [UInt8], time: Double) -> String {
        var hex = [UInt8]()
        hex.reserveCapacity(bytes.count * 2)
        for b in bytes { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 0xf)]) }
        return String(format6(time)) + " " + String(decoding: hex, as: UTF8.self)
    }

    static func format6(_ t: Double) -> String {
        let micros = Int64((t * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    public struct Datagram: Sendable {
        public var time: Double
        public var bytes: [UInt8]
    }

    /// Reads a capture; a malformed line is an error naming its line number.
    public static func parse(_ text: String) throws -> [Datagram] {
        var out: [Datagram] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 2, let time = Double(parts[0]), let bytes = hexBytes(parts[1]) else {
                throw DecodeError.invalidValue(what: "capture line \(number + 1)", offset: 0, detail: "expected '<time> <hex>'")
            }
            out.append(Datagram(time: time, bytes: bytes))
        }
        return out
    }

    public static func hexBytes(_ s: Substring) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
