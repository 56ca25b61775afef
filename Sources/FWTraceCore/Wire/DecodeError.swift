/// Why a message from the kernel could not be decoded. Every case names where it went wrong,
/// so a bad message can be reported (and captured) instead of crashing the receiver.
public enum DecodeError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Fewer bytes than the structure needs.
    case truncated(what: String, offset: Int, need: Int, have: Int)
    /// An attribute whose payload has the wrong length for its type.
    case badAttributeLength(attribute: String, offset: Int, expected: String, actual: Int)
    /// A length field that points outside its container.
    case badLength(what: String, offset: Int, length: Int)
    /// An attribute the event needs is missing.
    case missingAttribute(String)
    /// A value that cannot be right (a string without its NUL, an unknown version).
    case invalidValue(what: String, offset: Int, detail: String)

    public var description: String {
        switch self {
        case let .truncated(what, offset, need, have):
            return "\(what) at offset \(offset) truncated: need \(need) bytes, have \(have)"
        case let .badAttributeLength(attribute, offset, expected, actual):
            return "attribute \(attribute) at offset \(offset) has length \(actual), expected \(expected)"
        case let .badLength(what, offset, length):
            return "\(what) at offset \(offset) has impossible length \(length)"
        case let .missingAttribute(name):
            return "required attribute \(name) is missing"
        case let .invalidValue(what, offset, detail):
            return "\(what) at offset \(offset): \(detail)"
        }
    }
}
