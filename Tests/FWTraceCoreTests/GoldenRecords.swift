import Foundation
import XCTest

/// The recorded JSON lines of the golden test (Fixtures/golden/<scenario>.jsonl) and a diff of
/// two record lists that names the record, the field, and both values.
enum GoldenRecords {
    /// Set to 1 to write the goldens from what the pipeline prints now (then review `git diff`).
    static let recordVariable = "FWTRACE_RECORD_GOLDEN"

    /// The source tree's golden folder: re-recording writes there, not into the test bundle.
    static func directory(file: String = #filePath) -> URL {
        URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Fixtures/golden")
    }

    static func url(_ scenario: String) -> URL { directory().appendingPathComponent("\(scenario).jsonl") }

    static var recording: Bool { ProcessInfo.processInfo.environment[recordVariable] == "1" }

    static func load(_ scenario: String) throws -> [String] {
        try String(contentsOf: url(scenario), encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func record(_ lines: [String], scenario: String) throws {
        try (lines.map { $0 + "\n" }.joined()).write(to: url(scenario), atomically: true, encoding: .utf8)
    }

    /// Compares golden against actual lines; returns readable differences (at most `limit`),
    /// empty when equal. Lines are compared as text first; only differing ones are parsed.
    /// `ignoring`: top-level fields left out of the comparison (a replay's host).
    static func differences(expected: [String], actual: [String], ignoring: Set<String> = [], limit: Int = 12) -> [String] {
        var out: [String] = []
        if expected.count != actual.count {
            out.append("\(expected.count) records expected, \(actual.count) printed")
        }
        for i in 0..<max(expected.count, actual.count) where out.count < limit {
            let e = i < expected.count ? expected[i] : nil, a = i < actual.count ? actual[i] : nil
            if e == a { continue }
            guard let e, let a else {
                out.append("record \(i + 1): \(e == nil ? "unexpected" : "missing"): \(abbreviate(e ?? a ?? ""))")
                continue
            }
            guard let eo = parse(e), let ao = parse(a) else {
                out.append("record \(i + 1): not JSON: expected \(abbreviate(e)), actual \(abbreviate(a))")
                continue
            }
            var fields: [String] = []
            diff(eo.filter { !ignoring.contains($0.key) }, ao.filter { !ignoring.contains($0.key) }, at: "", into: &fields)
            let what = (eo["type"] as? String ?? "?") + ((eo["trace_id"] as? String).map { " trace_id \($0)" } ?? "")
            for field in fields.prefix(limit - out.count) { out.append("record \(i + 1) (\(what)): \(field)") }
        }
        return out
    }

    static func parse(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    static func diff(_ e: Any?, _ a: Any?, at path: String, into out: inout [String]) {
        switch (e, a) {
        case let (e as [String: Any], a as [String: Any]):
            for key in Set(e.keys).union(a.keys).sorted() {
                diff(e[key], a[key], at: path.isEmpty ? key : "\(path).\(key)", into: &out)
            }
        case let (e as [Any], a as [Any]):
            if e.count != a.count { out.append("\(path): \(e.count) elements expected, \(a.count) actual") }
            for i in 0..<min(e.count, a.count) { diff(e[i], a[i], at: "\(path)[\(i)]", into: &out) }
        default:
            let es = show(e), as_ = show(a)
            if es != as_ { out.append("\(path): expected \(es), actual \(as_)") }
        }
    }

    static func show(_ v: Any?) -> String {
        guard let v else { return "(absent)" }
        if v is NSNull { return "null" }
        if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
            return abbreviate(String(decoding: data, as: UTF8.self))
        }
        return "\(v)"
    }

    static func abbreviate(_ s: String) -> String { s.count <= 160 ? s : String(s.prefix(157)) + "..." }
}
