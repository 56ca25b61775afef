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
