import Foundation

/// An IPv4 or IPv6 address as bytes, with parsing and RFC 5952 text, in pure Swift (no inet_pton:
/// this module has no C dependency).
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(IPv6Bytes)

    public var isV4: Bool { if case .v4 = self { return true } else { return false } }

    public init?(bytes: ArraySlice<UInt8>) {
        if bytes.count == 4 {
            let i = bytes.startIndex   // read in place: no array for four bytes
            self = .v4(UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
        } else if bytes.count == 16 {
            self = .v6(IPv6Bytes(bytes))
        } else {
            return nil
        }
    }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let bytes = IPAddress.parseV6(text) else { return nil }
            self = .v6(IPv6Bytes(bytes[...]))
        } else {
            guard let value = IPAddress.parseV4(text) else { return nil }
            self = .v4(value)
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .v4(let v): return [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        case .v6(let b): return b.bytes
        }
    }

    public var description: String {
        switch self {
        case .v4(let v): return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6(let b): return IPAddress.formatV6(b.bytes)
        }
    }

    static func parseV4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt32(part), octet <= 255 else { return nil }
            // "010" is octal to inet_aton and decimal to others: refuse the ambiguity.
            if part.count > 1 && part.first == "0" { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseV6(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ s: String, allowV4Tail: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if allowV4Tail, i == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(String(piece)) else { return nil }
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard (1...4).contains(piece.count), let g = UInt16(piece, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        if halves.count == 2 {
            sawGap = true
            guard let head = parseGroups(halves[0], allowV4Tail: false),
                  let rest = parseGroups(halves[1], allowV4Tail: true) else { return nil }
            groups = head; tail = rest
            guard groups.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = parseGroups(halves[0], allowV4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        if sawGap { groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail }
        var bytes: [UInt8] = []
        for g in groups { bytes.append(UInt8(g >> 8)); bytes.append(UInt8(g & 0xff)) }
        return bytes
    }

    /// RFC 5952: lowercase, leading zeros dropped, the longest run (>= 2) of zero groups as "::",
    /// IPv4-mapped addresses in dotted form.
    static func formatV6(_ b: [UInt8]) -> String {
        var groups = [Int](repeating: 0, count: 8)
        for i in 0..<8 { groups[i] = Int(b[2 * i]) << 8 | Int(b[2 * i + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:\(b[12]).\(b[13]).\(b[14]).\(b[15])"
        }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                i += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(groups[i], radix: 16)
            i += 1
        }
        return out
    }
}

/// An address with a prefix length (`10.0.0.0/8`, `fd00::/64`); a bare address is a full prefix.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let maxLength = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let length = Int(parts[1]), length <= maxLength else { return nil }
            self.length = length
        } else {
            self.length = maxLength
        }
        self.address = address
    }

    public var isHost: Bool { length == (address.isV4 ? 32 : 128) }
    public var description: String { isHost ? address.description : "\(address)/\(length)" }

    public func contains(_ other: IPAddress) -> Bool {
        let a = address.bytes, b = other.bytes
        guard a.count == b.count else { return false }
        var remaining = length
        for i in 0..<a.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a[i] & mask != b[i] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// The 16 bytes of an IPv6 address as two words: a value with no heap storage, so that an address,
/// and the packet summary and path that hold it, copy without reference counting (an array here
/// made every copy of a packet summary retain and release it, on every event).
public struct IPv6Bytes: Hashable, Sendable {
    /// Bytes 0-7 and 8-15, big-endian (network order), so that comparing the words compares the bytes.
    public let high: UInt64
    public let low: UInt64

    public static let zero = IPv6Bytes(high: 0, low: 0)

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// Exactly 16 bytes.
    public init(_ bytes: ArraySlice<UInt8>) {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        var high: UInt64 = 0, low: UInt64 = 0
        let i = bytes.startIndex
        for k in 0..<8 { high = high << 8 | UInt64(bytes[i + k]) }
        for k in 8..<16 { low = low << 8 | UInt64(bytes[i + k]) }
        self.high = high; self.low = low
    }

    public var bytes: [UInt8] {
        (0..<16).map { k in UInt8(truncatingIfNeeded: (k < 8 ? high : low) >> (UInt64(7 - k % 8) * 8)) }
    }
}
