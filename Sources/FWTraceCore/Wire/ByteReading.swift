/// Bounds-checked big- and little-endian reads from a byte buffer. Every read says what it
/// was reading so that a failure names the field.
@usableFromInline
enum Bytes {
    @inlinable
    static func need(_ bytes: [UInt8], _ offset: Int, _ count: Int, _ what: String) throws {
        guard offset >= 0, count >= 0, offset <= bytes.count, bytes.count - offset >= count else {
            throw DecodeError.truncated(what: what, offset: offset, need: count,
                                        have: max(0, bytes.count - max(0, offset)))
        }
    }

    @inlinable
    static func be16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) << 8 | UInt16(b[o + 1]) }

    @inlinable
    static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    @inlinable
    static func be64(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(be32(b, o)) << 32 | UInt64(be32(b, o + 4)) }

    /// Netlink headers are in host order; the kernels fwtrace runs on are little-endian.
    @inlinable
    static func le16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }

    @inlinable
    static func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
