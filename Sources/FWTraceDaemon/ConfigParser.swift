import Foundation

/// The subset of TOML fwtrace's config uses: comments, `[table]`, `[[array-of-tables]]`, and
/// `key = value` with strings, integers, booleans and one-line arrays of those (nested at most
/// 8 deep). Anything else is an error that names the line, so a typo never silently becomes a
/// default.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let line: Int
    public let message: String
    public init(file: String, line: Int, message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

public enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case array([ConfigValue])

    var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .boolean: return "a boolean"
        case .array: return "an array"
        }
    }
}

/// One `[table]` or one element of `[[array]]`, its keys with the line each was set on.
public struct ConfigTable: Sendable {
    public var name: String
    public var line: Int
    public var entries: [String: (value: ConfigValue, line: Int)] = [:]
    public var order: [String] = []
}

public struct ConfigDocument: Sendable {
    public var file: String
    /// Top-level keys live in the table named "".
    public var tables: [ConfigTable] = []

    public func tables(named name: String) -> [ConfigTable] { tables.filter { $0.name == name } }

    public static func parse(_ text: String, file: String) throws -> ConfigDocument {
        var document = ConfigDocument(file: file)
        document.tables.append(ConfigTable(name: "", line: 0))
        var singleTables: Set<String> = []
        var arrayTables: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func fail(_ message: String) -> ConfigError { ConfigError(file: file, line: number, message: message) }
            var scanner = Scanner(Array(rawLine.utf8))
            scanner.skipSpaces()
            if scanner.atEndOrComment { continue }
            if scanner.peek == UInt8(ascii: "[") {
                let isArray = scanner.peek(at: 1) == UInt8(ascii: "[")
                scanner.advance(isArray ? 2 : 1)
                scanner.skipSpaces()
                let name = scanner.bareKey()
                guard !name.isEmpty else { throw fail("expected a table name inside [ ]") }
                scanner.skipSpaces()
                guard scanner.take(UInt8(ascii: "]")), !isArray || scanner.take(UInt8(ascii: "]")) else {
                    throw fail(isArray ? "expected ]] after [[\(name)" : "expected ] after [\(name) (dotted or quoted table names are not supported)")
                }
                scanner.skipSpaces()
                guard scanner.atEndOrComment else { throw fail("unexpected text after the table header") }
                if isArray {
                    if singleTables.contains(name) { throw fail("[[\(name)]] conflicts with an earlier [\(name)]") }
                    arrayTables.insert(name)
                } else {
                    if singleTables.contains(name) || arrayTables.contains(name) { throw fail("table [\(name)] is defined twice") }
                    singleTables.insert(name)
                }
                document.tables.append(ConfigTable(name: name, line: number))
                continue
            }
            let key = scanner.bareKey()
            guard !key.isEmpty else { throw fail("expected `key = value`, a [table] or a comment") }
            scanner.skipSpaces()
            guard scanner.take(UInt8(ascii: "=")) else { throw fail("expected = after '\(key)'") }
            scanner.skipSpaces()
            let value: ConfigValue
            do { value = try scanner.value() } catch let message as ScanFailure { throw fail("\(key): \(message.text)") }
            scanner.skipSpaces()
            guard scanner.atEndOrComment else { throw fail("unexpected text after the value of '\(key)'") }
            let current = document.tables.count - 1
            if document.tables[current].entries[key] != nil { throw fail("'\(key)' is set twice in the same table") }
            document.tables[current].entries[key] = (value, number)
            document.tables[current].order.append(key)
        }
        return document
    }
}

struct ScanFailure: Error { let text: String }

/// Byte scanner over one line.
struct Scanner {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    func peek(at offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
    mutating func advance(_ n: Int = 1) { index += n }
    mutating func take(_ byte: UInt8) -> Bool { if peek == byte { index += 1; return true }; return false }
    mutating func skipSpaces() { while let b = peek, b == 0x20 || b == 0x09 || b == 0x0d { index += 1 } }
    var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") }

    mutating func bareKey() -> String {
        let start = index
        while let b = peek, (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x5f || b == 0x2d { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Arrays nest at most this deep: each level is a recursive call (a line of 60,000 `[`
    /// overflowed the stack), and fwtrace's keys take strings or arrays of strings.
    static let maxArrayDepth = 8

    mutating func value(depth: Int = 0) throws -> ConfigValue {
        guard let b = peek else { throw ScanFailure(text: "a value is missing") }
        switch b {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"):
            advance()
            let start = index
            while let c = peek, c != UInt8(ascii: "'") { index += 1 }
            guard take(UInt8(ascii: "'")) else { throw ScanFailure(text: "the string has no closing '") }
            return .string(String(decoding: bytes[start..<index - 1], as: UTF8.self))
        case UInt8(ascii: "["):
            guard depth < Self.maxArrayDepth else {
                throw ScanFailure(text: "arrays nest more than \(Self.maxArrayDepth) deep (fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"])")
            }
            advance()
            var items: [ConfigValue] = []
            skipSpaces()
            if take(UInt8(ascii: "]")) { return .array(items) }
            while true {
                skipSpaces()
                if peek == nil || peek == UInt8(ascii: "#") { throw ScanFailure(text: "the array has no closing ] on this line (arrays must fit on one line)") }
                items.append(try value(depth: depth + 1))
                skipSpaces()
                if peek == nil || peek == UInt8(ascii: "#") { throw ScanFailure(text: "the array has no closing ] on this line (arrays must fit on one line)") }
                if take(UInt8(ascii: ",")) { skipSpaces(); if take(UInt8(ascii: "]")) { return .array(items) }; continue }
                if take(UInt8(ascii: "]")) { return .array(items) }
                throw ScanFailure(text: "expected , or ] in the array")
            }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            let word = bareKey()
            if word == "true" { return .boolean(true) }
            if word == "false" { return .boolean(false) }
            throw ScanFailure(text: "'\(word)' is not a value: strings need quotes (\"\(word)\")")
        default:
            let start = index
            if peek == UInt8(ascii: "-") || peek == UInt8(ascii: "+") { index += 1 }
            while let c = peek, (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_") { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self).replacingOccurrences(of: "_", with: "")
            guard let number = Int(text) else {
                let rest = String(decoding: bytes[start...], as: UTF8.self)
                throw ScanFailure(text: "'\(rest)' is not a value: strings need quotes, numbers are integers")
            }
            if let c = peek, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: ":") {
                throw ScanFailure(text: "only integers are supported; write durations and rates as strings (\"10s\", \"5/second\")")
            }
            return .integer(number)
        }
    }

    mutating func basicString() throws -> String {
        advance()
        var out: [UInt8] = []
        while let c = peek {
            index += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c < 0x20 && c != 0x09 { throw ScanFailure(text: "control character in a string") }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = peek else { break }
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(e)
            case UInt8(ascii: "\\"): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard index + 4 <= bytes.count, let scalar = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16),
                      let u = Unicode.Scalar(scalar) else { throw ScanFailure(text: "bad \\u escape") }
                index += 4
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw ScanFailure(text: "unknown escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        throw ScanFailure(text: "the string has no closing \"")
    }
}
