/// One netlink attribute (struct nlattr): its type and where its payload lies in the buffer.
public struct NetlinkAttribute: Sendable {
    public let type: UInt16
    public let isNested: Bool
    /// Offset of the attribute header in the buffer (for error messages).
    public let offset: Int
    public let payload: Range<Int>
    public var length: Int { payload.count }
}

extension NetlinkAttribute {
    /// The attribute whose header (length, type) was read at `position` of a container that ends
    /// at `end`; the length is checked against the container, never trusted.
    @inline(__always)
    init(header length: Int, _ rawType: UInt16, at position: Int, end: Int) throws {
        guard length >= 4, length <= end - position else {
            throw DecodeError.badLength(what: "attribute type \(rawType & 0x3fff)", offset: position, length: length)
        }
        self.init(type: rawType & 0x3fff, isNested: rawType & 0x8000 != 0, offset: position, payload: (position + 4)..<(position + length))
    }
}

/// Walks the attributes of one container (a message body or a nested attribute). Unknown
/// types are the caller's to skip; lengths are checked against the container, never trusted.
public struct AttributeReader {
    public let bytes: [UInt8]
    private var position: Int
    private let end: Int

    public init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = min(range.upperBound, bytes.count)
    }

    /// The next attribute, nil at the end; throws when a header or length does not fit.
    public mutating func next() throws -> NetlinkAttribute? {
        // Trailing padding shorter than a header is allowed by the netlink alignment rules.
        guard end - position >= 4 else { return nil }
        let attribute = try NetlinkAttribute(header: Int(Bytes.le16(bytes, position)), Bytes.le16(bytes, position + 2), at: position, end: end)
        position += (attribute.length + 4 + 3) & ~3
        return attribute
    }

    // Typed getters check the exact payload length for the type.

    public func be32(_ a: NetlinkAttribute, _ name: String) throws -> UInt32 {
        guard a.length == 4 else { throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: "4", actual: a.length) }
        return Bytes.be32(bytes, a.payload.lowerBound)
    }

    public func be16(_ a: NetlinkAttribute, _ name: String) throws -> UInt16 {
        guard a.length == 2 else { throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: "2", actual: a.length) }
        return Bytes.be16(bytes, a.payload.lowerBound)
    }

    public func be64(_ a: NetlinkAttribute, _ name: String) throws -> UInt64 {
        guard a.length == 8 else { throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: "8", actual: a.length) }
        return Bytes.be64(bytes, a.payload.lowerBound)
    }

    public func u8(_ a: NetlinkAttribute, _ name: String) throws -> UInt8 {
        guard a.length == 1 else { throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: "1", actual: a.length) }
        return bytes[a.payload.lowerBound]
    }

    /// A NUL-terminated string (NLA_STRING); the NUL is required and not returned.
    public func string(_ a: NetlinkAttribute, _ name: String) throws -> String {
        guard a.length >= 1 else { throw DecodeError.badAttributeLength(attribute: name, offset: a.offset, expected: ">= 1", actual: 0) }
        // On the buffer's memory (no slice, no index checks per byte): the payload range was
        // checked against the container when the attribute was read.
        let decoded: String? = bytes.withUnsafeBufferPointer { all in
            let payload = UnsafeBufferPointer(rebasing: all[a.payload])
            guard let nul = payload.firstIndex(of: 0) else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: payload[..<nul]), as: UTF8.self)
        }
        guard let decoded else {
            throw DecodeError.invalidValue(what: "attribute \(name)", offset: a.offset, detail: "string without terminating NUL")
        }
        return decoded
    }

    public func raw(_ a: NetlinkAttribute) -> [UInt8] { Array(bytes[a.payload]) }

    public func nested(_ a: NetlinkAttribute) -> AttributeReader { AttributeReader(bytes, range: a.payload) }
}

/// `AttributeReader` on the buffer's memory, for the per-event decoder: the same checks (every
/// length against its container, the exact payload length per type) with the same errors, and no
/// bounds check per byte read after them (each read lies inside a range those checks passed).
struct RawAttributeReader {
    let bytes: UnsafeBufferPointer<UInt8>
    private var position: Int
    private let end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = min(range.upperBound, bytes.count)
    }

    @inline(__always) private func le16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
    @inline(__always) private func be16(_ o: Int) -> UInt16 { UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) }
    @inline(__always) private func be32(_ o: Int) -> UInt32 {
        UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3])
    }

    mutating func next() throws -> NetlinkAttribute? {
        guard end - position >= 4 else { return nil }
        let attribute = try NetlinkAttribute(header: Int(le16(position)), le16(position + 2), at: position, end: end)
        position += (attribute.length + 4 + 3) & ~3
        return attribute
    }

    func be32(_ a: NetlinkAttribute, _ name: StaticString) throws -> UInt32 {
        guard a.length == 4 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: "4", actual: a.length) }
        return be32(a.payload.lowerBound)
    }

    func be16(_ a: NetlinkAttribute, _ name: StaticString) throws -> UInt16 {
        guard a.length == 2 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: "2", actual: a.length) }
        return be16(a.payload.lowerBound)
    }

    func be64(_ a: NetlinkAttribute, _ name: StaticString) throws -> UInt64 {
        guard a.length == 8 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: "8", actual: a.length) }
        return UInt64(be32(a.payload.lowerBound)) << 32 | UInt64(be32(a.payload.lowerBound + 4))
    }

    func u8(_ a: NetlinkAttribute, _ name: StaticString) throws -> UInt8 {
        guard a.length == 1 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: "1", actual: a.length) }
        return bytes[a.payload.lowerBound]
    }

    func string(_ a: NetlinkAttribute, _ name: StaticString) throws -> String {
        guard a.length >= 1 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: ">= 1", actual: 0) }
        let payload = UnsafeBufferPointer(rebasing: bytes[a.payload])
        guard let nul = payload.firstIndex(of: 0) else {
            throw DecodeError.invalidValue(what: "attribute \(name)", offset: a.offset, detail: "string without terminating NUL")
        }
        return String(decoding: UnsafeBufferPointer(rebasing: payload[..<nul]), as: UTF8.self)
    }

    /// `string`, answered from `names` when the same bytes were met before.
    func string(_ a: NetlinkAttribute, _ name: StaticString, names: NameCache?) throws -> String {
        guard let names else { return try string(a, name) }
        guard a.length >= 1 else { throw DecodeError.badAttributeLength(attribute: "\(name)", offset: a.offset, expected: ">= 1", actual: 0) }
        let payload = UnsafeBufferPointer(rebasing: bytes[a.payload])
        guard let nul = payload.firstIndex(of: 0) else {
            throw DecodeError.invalidValue(what: "attribute \(name)", offset: a.offset, detail: "string without terminating NUL")
        }
        return names.name(UnsafeBufferPointer(rebasing: payload[..<nul]))
    }

    func nested(_ a: NetlinkAttribute) -> RawAttributeReader { RawAttributeReader(bytes, range: a.payload) }
}

/// Table and chain names as Strings, made once per session: every trace event names its table
/// and chain, a session meets a handful, and making a String validates its UTF-8 each time (an
/// allocation too past 15 bytes, as fwtrace's own table name is). Compared as bytes with the
/// names met recently. One per session; not for sharing between threads.
public final class NameCache {
    private var keys: [[UInt8]] = []
    private var names: [String] = []
    /// When this many names were met, the cache starts over (a ruleset of many chains).
    static let capacity = 64

    public init() {}

    func name(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let n = bytes.count
        for i in keys.indices where keys[i].count == n {
            let same = keys[i].withUnsafeBufferPointer { k in
                var j = 0
                while j < n && k[j] == bytes[j] { j += 1 }
                return j == n
            }
            if same { return names[i] }
        }
        let name = String(decoding: bytes, as: UTF8.self)
        if keys.count >= Self.capacity { keys.removeAll(keepingCapacity: true); names.removeAll(keepingCapacity: true) }
        keys.append(Array(bytes))
        names.append(name)
        return name
    }
}

/// One netlink message inside a datagram: header fields and where its body lies.
public struct NetlinkMessage: Sendable {
    public let type: UInt16
    public let flags: UInt16
    public let sequence: UInt32
    public let portID: UInt32
    public let offset: Int
    public let body: Range<Int>

    public static let headerSize = 16
    public static let done: UInt16 = 3
    public static let error: UInt16 = 2
    public static let overrun: UInt16 = 4

    /// Splits one received datagram into its messages. A bad length ends the walk with an error
    /// (the rest of the datagram cannot be framed).
    public static func split(_ bytes: [UInt8]) throws -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        try forEach(in: bytes) { messages.append($0) }
        return messages
    }

    /// `split` without the array: calls `body` for each message of the datagram that lies at
    /// `range` of `bytes` (a receive buffer, or one capture holding many datagrams). Offsets and
    /// body ranges are indices into `bytes`. Messages before a framing error are delivered, then
    /// the error is thrown, as `split` would throw it.
    public static func forEach(in bytes: [UInt8], range: Range<Int>? = nil, _ body: (NetlinkMessage) throws -> Void) throws {
        let start = range?.lowerBound ?? 0
        let end = min(range?.upperBound ?? bytes.count, bytes.count)
        var position = start
        var any = false
        while end - position >= headerSize {
            let length = Int(Bytes.le32(bytes, position))
            guard length >= headerSize, length <= end - position else {
                throw DecodeError.badLength(what: "netlink message", offset: position - start, length: length)
            }
            any = true
            try body(NetlinkMessage(
                type: Bytes.le16(bytes, position + 4), flags: Bytes.le16(bytes, position + 6),
                sequence: Bytes.le32(bytes, position + 8), portID: Bytes.le32(bytes, position + 12),
                offset: position, body: (position + headerSize)..<(position + length)))
            position += (length + 3) & ~3
        }
        if position < end, !any {
            throw DecodeError.truncated(what: "netlink message header", offset: position - start, need: headerSize, have: end - position)
        }
    }
}
