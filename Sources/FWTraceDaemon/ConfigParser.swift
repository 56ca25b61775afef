import Foundation
import TOMLKit

/// The configuration file as TOML 1.0, parsed by toml++ (through TOMLKit), then laid out as the
/// tables fwtrace reads: the top level, [daemon], each [[sink]] and each [[watch]], every key with
/// the line it was set on. toml++ gives the line of a syntax error; it does not give the lines of
/// keys, so `KeyLines` finds them in the text (see docs/decisions.md). Anything that is not
/// fwtrace's schema is an error that names the line, so a typo never silently becomes a default.
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
    case float(Double)
    /// A TOML date, time or date-time (no key of fwtrace takes one).
    case dateTime
    /// An inline table or a table below one of fwtrace's (no key of fwtrace takes one).
    case table
    case array([ConfigValue])

    var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .boolean: return "a boolean"
        case .float: return "a float"
        case .dateTime: return "a date or time"
        case .table: return "a table"
        case .array: return "an array"
        }
    }
}

/// One `[table]` or one element of `[[array]]`, its keys with the line each was set on.
public struct ConfigTable: Sendable {
    public var name: String
    public var line: Int
    public var entries: [String: (value: ConfigValue, line: Int)] = [:]
    /// The keys in the order of their lines.
    public var order: [String] = []
}

public struct ConfigDocument: Sendable {
    public var file: String
    /// Top-level keys live in the table named ""; the rest in the order of their lines.
    public var tables: [ConfigTable] = []

    public func tables(named name: String) -> [ConfigTable] { tables.filter { $0.name == name } }

    /// Arrays in a value nest at most this deep: fwtrace's keys take strings or arrays of strings.
    /// (toml++ itself refuses values nested more than 256 deep, before any recursion of ours.)
    static let maxArrayDepth = 8

    /// fwtrace's tables, and whether each is one table or an array of tables.
    static let schemaTables: [(name: String, isArray: Bool)] = [("daemon", false), ("sink", true), ("watch", true)]

    public static func parse(_ text: String, file: String) throws -> ConfigDocument {
        // TOMLKit hands toml++ a C string: a NUL would end the document there, silently.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].reduce(1) { $0 + ($1 == 0x0a ? 1 : 0) }
            throw ConfigError(file: file, line: line, message: "the file contains a NUL byte: it is not a text file (TOML allows no control characters but tab)")
        }
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let error as TOMLParseError {
            var line = max(1, error.source.begin.line)
            var message = syntaxMessage(error, text: text)
            // At the end of the file, the line to fix is where the unclosed string or array opened.
            if error.description.contains("end-of-file"), let open = KeyLines(text).unclosed {
                line = open.line
                message += " (the \(open.what) opened on this line is not closed\(open.what == "string" ? " (its closing quote is missing)" : open.what == "array" ? ": close it with ]" : ": close it with }"))"
            }
            throw ConfigError(file: file, line: line, message: message)
        }
        let lines = KeyLines(text)
        func fail(_ path: [KeyLines.Component], _ message: String) -> ConfigError {
            ConfigError(file: file, line: lines.line(of: path), message: message)
        }

        var document = ConfigDocument(file: file)
        var top = ConfigTable(name: "", line: 0)
        var tables: [ConfigTable] = []
        let schema = Dictionary(uniqueKeysWithValues: schemaTables.map { ($0.name, $0.isArray) })

        func table(_ name: String, _ value: TOMLTable, at path: [KeyLines.Component]) throws -> ConfigTable {
            var result = ConfigTable(name: name, line: lines.line(of: path))
            for (key, item) in value {
                let keyPath = path + [.key(key)]
                let converted = try convert(item, depth: 0) { fail(keyPath, "\(key): \($0)") }
                result.entries[key] = (converted, lines.line(of: keyPath))
            }
            result.order = result.entries.keys.sorted { (result.entries[$0]!.line, $0) < (result.entries[$1]!.line, $1) }
            return result
        }

        for (key, value) in root {
            let path: [KeyLines.Component] = [.key(key)]
            if let isArray = schema[key] {
                if !isArray {
                    guard let t = value.table else {
                        throw fail(path, "\(key) is \(Self.typeName(value)), not a table: write [\(key)] and its keys on the lines below it")
                    }
                    tables.append(try table(key, t, at: path))
                    continue
                }
                guard let array = value.array else {
                    if value.table != nil {
                        throw fail(path, "[\(key)] is one table, but each \(key) is an element of an array of tables: write [[\(key)]] (double brackets) above each \(key)")
                    }
                    throw fail(path, "\(key) is \(Self.typeName(value)): each \(key) is a table of its own, written [[\(key)]] above its keys")
                }
                for (index, element) in array.enumerated() {
                    guard let t = element.table else {
                        throw fail(path + [.index(index)], "\(key) holds \(Self.typeName(element)): each \(key) is a table, written [[\(key)]] above its keys")
                    }
                    tables.append(try table(key, t, at: path + [.index(index)]))
                }
                continue
            }
            if let t = value.table {
                // Not fwtrace's: an unknown table, reported with its line when it is read.
                tables.append(try table(key, t, at: path))
                continue
            }
            if let array = value.array, !array.isEmpty, array.allSatisfy({ $0.table != nil }) {
                tables.append(ConfigTable(name: key, line: lines.line(of: path + [.index(0)])))
                continue
            }
            top.entries[key] = (try convert(value, depth: 0) { fail(path, "\(key): \($0)") }, lines.line(of: path))
        }
        top.order = top.entries.keys.sorted { (top.entries[$0]!.line, $0) < (top.entries[$1]!.line, $1) }
        document.tables = [top] + tables.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
        return document
    }

    static func typeName(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a float"
        case .bool: return "a boolean"
        case .date, .time, .dateTime: return "a date or time"
        }
    }

    static func convert(_ value: TOMLValueConvertible, depth: Int, fail: (String) -> ConfigError) throws -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .bool: return .boolean(value.bool ?? false)
        case .double: return .float(value.double ?? 0)
        case .date, .time, .dateTime: return .dateTime
        case .table: return .table
        case .array:
            guard depth < maxArrayDepth else {
                throw fail("arrays nest more than \(maxArrayDepth) deep (fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"])")
            }
            return .array(try (value.array.map(Array.init) ?? []).map { try convert($0, depth: depth + 1, fail: fail) })
        }
    }

    /// toml++'s description of a syntax error, plus what to do for the mistakes people make.
    static func syntaxMessage(_ error: TOMLParseError, text: String) -> String {
        var message = error.description
        if message.hasPrefix("Error while parsing ") {
            // "Error while parsing key-value pair: …" → "TOML syntax (key-value pair): …"
            let rest = message.dropFirst("Error while parsing ".count)
            if let colon = rest.firstIndex(of: ":") {
                message = "TOML syntax (\(rest[..<colon])):\(rest[rest.index(after: colon)...])"
            }
        } else {
            message = "TOML syntax: " + message
        }
        let lineText = text.split(separator: "\n", omittingEmptySubsequences: false)
            .dropFirst(max(0, error.source.begin.line - 1)).first.map(String.init) ?? ""
        let lower = error.description.lowercased()
        var hint: String?
        if lower.contains("nested value depth") {
            hint = "fwtrace's keys take strings or arrays of strings, like [\"a\", \"b\"]"
        } else if lower.contains("redefine existing table") {
            hint = "the table is defined twice: keep one [table] header (only [[sink]] and [[watch]] repeat)"
        } else if lower.contains("redefine existing") {
            hint = "the key is set twice in the same table: keep one"
        } else if lower.contains("expected bare key") || lower.contains("key-value pair") && lower.contains("expected '='") {
            hint = "write `key = value`, a [table] header or a # comment"
        } else if (lower.hasPrefix("error while parsing boolean") || lower.hasPrefix("error while parsing value")) && !lineText.contains("\"") && !lineText.contains("'") {
            hint = "strings need quotes: key = \"text\""
        }
        if let hint { message += " (\(hint))" }
        return message
    }
}

/// The line each key, table and array element is defined on, found in the text of a document
/// toml++ has already accepted: table headers, dotted and quoted keys, values skipped by their
/// syntax (strings of all four kinds, multi-line arrays, inline tables). Paths are resolved as
/// TOML resolves them: `[[watch]]` is element n of `watch`, `a.b = 1` defines a, then a.b.
struct KeyLines {
    enum Component: Hashable { case key(String), index(Int) }

    private var lines: [[Component]: Int] = [:]
    /// In a text toml++ refused at its end: the string, array or inline table left open.
    private(set) var unclosed: (what: String, line: Int)?
    private var depth = 0
    private let bytes: [UInt8]
    private var at = 0
    private var line = 1

    init(_ text: String) {
        bytes = Array(text.utf8)
        scanDocument()
    }

    /// The line of the path, else of its nearest ancestor that has one (0 when none does).
    func line(of path: [Component]) -> Int {
        var path = path
        while !path.isEmpty {
            if let line = lines[path] { return line }
            path.removeLast()
        }
        return 0
    }

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }
    private func peek(_ offset: Int) -> UInt8? { at + offset < bytes.count ? bytes[at + offset] : nil }

    private mutating func step() {
        if bytes[at] == 0x0a { line += 1 }
        at += 1
    }
    private mutating func skipSpaces() { while let b = peek, b == 0x20 || b == 0x09 { at += 1 } }
    /// Spaces, newlines and comments.
    private mutating func skipBlank() {
        while let b = peek {
            if b == 0x20 || b == 0x09 || b == 0x0d || b == 0x0a { step(); continue }
            if b == UInt8(ascii: "#") { while let c = peek, c != 0x0a { at += 1 }; continue }
            return
        }
    }
    private mutating func mark(_ path: [Component], _ line: Int, override: Bool = false) {
        if override || lines[path] == nil { lines[path] = line }
    }

    private mutating func scanDocument() {
        var prefix: [Component] = []
        var arrayCounts: [[Component]: Int] = [:]
        while true {
            skipBlank()
            guard let b = peek else { return }
            if b == UInt8(ascii: "[") {
                let headerLine = line
                let isArray = peek(1) == UInt8(ascii: "[")
                at += isArray ? 2 : 1
                let keys = keyPath()
                at += isArray ? 2 : 1
                // Each level but the last: an array of tables means its latest element.
                var resolved: [Component] = []
                for key in keys.dropLast() {
                    resolved.append(.key(key))
                    mark(resolved, headerLine)
                    if let n = arrayCounts[resolved] { resolved.append(.index(n - 1)) }
                }
                resolved.append(.key(keys.last ?? ""))
                if isArray {
                    let n = arrayCounts[resolved, default: 0]
                    arrayCounts[resolved] = n + 1
                    mark(resolved, headerLine)
                    prefix = resolved + [.index(n)]
                    mark(prefix, headerLine, override: true)
                } else {
                    prefix = resolved
                    mark(prefix, headerLine, override: true)
                }
                continue
            }
            let before = at
            keyValue(under: prefix)
            if at == before { at += 1 }   // not TOML (only for a text toml++ refused): move on
        }
    }

    private mutating func keyValue(under prefix: [Component]) {
        let keyLine = line
        var path = prefix
        for key in keyPath() {
            path.append(.key(key))
            mark(path, keyLine)
        }
        skipSpaces()
        if peek == UInt8(ascii: "=") { at += 1 }
        skipSpaces()
        value(at: path)
    }

    private mutating func keyPath() -> [String] {
        var keys: [String] = []
        while true {
            skipSpaces()
            keys.append(key())
            skipSpaces()
            guard peek == UInt8(ascii: ".") else { return keys }
            at += 1
        }
    }

    private mutating func key() -> String {
        guard let b = peek else { return "" }
        if b == UInt8(ascii: "\"") {
            at += 1
            var out: [UInt8] = []
            while let c = peek, c != UInt8(ascii: "\"") {
                if c == UInt8(ascii: "\\") { out += escape() } else { out.append(c); at += 1 }
            }
            at += 1
            return String(decoding: out, as: UTF8.self)
        }
        if b == UInt8(ascii: "'") {
            at += 1
            let start = at
            while let c = peek, c != UInt8(ascii: "'") { at += 1 }
            defer { at += 1 }
            return String(decoding: bytes[start..<at], as: UTF8.self)
        }
        let start = at
        while let c = peek, (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d { at += 1 }
        return String(decoding: bytes[start..<at], as: UTF8.self)
    }

    /// A backslash escape in a basic string key; `at` is on the backslash.
    private mutating func escape() -> [UInt8] {
        at += 1
        guard let e = peek else { return [] }
        at += 1
        switch e {
        case UInt8(ascii: "b"): return [0x08]
        case UInt8(ascii: "t"): return [0x09]
        case UInt8(ascii: "n"): return [0x0a]
        case UInt8(ascii: "f"): return [0x0c]
        case UInt8(ascii: "r"): return [0x0d]
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = e == UInt8(ascii: "u") ? 4 : 8
            guard at + count <= bytes.count, let v = UInt32(String(decoding: bytes[at..<at + count], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(v) else { return [] }
            at += count
            return Array(String(Character(scalar)).utf8)
        default: return [e]
        }
    }

    private mutating func value(at path: [Component]) {
        guard let b = peek, depth < 300 else { return }
        depth += 1
        defer { depth -= 1 }
        let opened = line
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            let multiline = peek(1) == b && peek(2) == b
            at += multiline ? 3 : 1
            while let c = peek {
                if b == UInt8(ascii: "\"") && c == UInt8(ascii: "\\") { step(); if peek != nil { step() }; continue }
                if c == b {
                    if !multiline { at += 1; return }
                    if peek(1) == b && peek(2) == b {
                        // Up to two quotes may end the content right before the closing three.
                        var run = 0
                        while peek == b && run < 5 { at += 1; run += 1 }
                        return
                    }
                }
                step()
            }
            if unclosed == nil { unclosed = ("string", opened) }
        case UInt8(ascii: "["):
            at += 1
            var index = 0
            while true {
                skipBlank()
                guard let c = peek else { if unclosed == nil { unclosed = ("array", opened) }; return }
                if c == UInt8(ascii: "]") { at += 1; return }
                if c == UInt8(ascii: ",") { at += 1; continue }
                let element = path + [.index(index)]
                mark(element, line)
                let before = at
                value(at: element)
                if at == before { at += 1 }
                index += 1
            }
        case UInt8(ascii: "{"):
            at += 1
            while true {
                skipBlank()
                guard let c = peek else { if unclosed == nil { unclosed = ("inline table", opened) }; return }
                if c == UInt8(ascii: "}") { at += 1; return }
                if c == UInt8(ascii: ",") { at += 1; continue }
                let before = at
                keyValue(under: path)
                if at == before { at += 1 }
            }
        default:
            // Numbers, booleans, dates and times (a date-time may hold one space).
            while let c = peek, c != UInt8(ascii: ","), c != UInt8(ascii: "]"), c != UInt8(ascii: "}"), c != UInt8(ascii: "#"), c != 0x0a, c != 0x0d { at += 1 }
        }
    }
}
