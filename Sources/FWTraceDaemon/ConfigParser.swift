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
