import Foundation
import FWTraceCore

/// The control socket's protocol, shared by the daemon and `fwtrace follow`/`status`: newline-
/// delimited JSON, one request line from the client, then response lines from the daemon.
/// docs/control-protocol.md describes it; every field here is checked as untrusted input.
public enum ControlProtocol {
    public static let version = "fwtrace-control/1"
    /// A request line longer than this is refused and the connection closed.
    public static let maxRequestBytes = 64 * 1024

    /// A client's string quoted back in an error (and the log): its first 64 Unicode scalars.
    /// Not Characters: one Character can hold thousands of combining marks.
    static func echo(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > 64 else { return text }
        var cut = String.UnicodeScalarView()
        cut.append(contentsOf: scalars.prefix(64))
        return String(cut) + "…"
    }
}

public struct ProtocolError: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let message: String
    /// The exit code a client should end with.
    public let exit: Int32
    public init(_ code: String, _ message: String, exit: Int32 = 1) { self.code = code; self.message = message; self.exit = exit }
    public var description: String { message }

    public var line: String {
        var w = JSONWriter()
        w.beginObject()
        w.string("type", "error")
        w.string("code", code)
        w.string("message", message)
        w.int("exit", exit)
        w.endObject()
        return w.text
    }
}

public struct ControlRequest: Sendable, Equatable {
    public enum Operation: String, Sendable { case follow, status }
    public enum View: String, Sendable { case json, text }

    public var operation: Operation
    public var filter = FilterSpec()
    public var netns: String?
    /// `follow --all-netns`: every namespace, one path per packet across them.
    public var allNetns = false
    public var backend = "auto"
    public var limit = "100"
    public var count: Int?
    public var timeout: String?
    /// `follow --quiet-period` as the user wrote it; absent: the session's default.
    public var quietPeriod: String?
    public var view: View = .json
    public var color = false
    /// The text view's steps: folded (the default) or all.
    public var steps: StepDetail = .folded

    public init(operation: Operation) { self.operation = operation }

    /// Namespaces a client may name: an `ip netns` name or a PID. Not a path: the daemon is root
    /// and would open whatever it is given (a FIFO would hang a session thread).
    public static func validateNamespace(_ text: String) throws {
        let nameOK = !text.isEmpty && text.count <= 64 && text != "." && text != ".."
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        guard nameOK else {
            throw ProtocolError("bad-request", "invalid namespace '\(ControlProtocol.echo(text))': give an `ip netns` name or a PID (paths are not accepted through the daemon)", exit: 2)
        }
    }

    /// A duration field within the bounds `follow` has for its option (FWTraceCore's Bounds).
    static func checkDuration(_ text: String?, _ key: String, in range: ClosedRange<Double>, example: String) throws {
        guard let text else { return }
        do { _ = try DurationParser.parse(text, option: "\"\(key)\"", in: range, example: "\"\(key)\":\"\(example)\"") } catch let error as FilterError {
            throw ProtocolError("bad-request", error.description, exit: 2)
        }
    }

    public static func parse(_ bytes: [UInt8]) throws -> ControlRequest {
        guard bytes.count <= ControlProtocol.maxRequestBytes else {
            throw ProtocolError("too-large", "the request is larger than \(ControlProtocol.maxRequestBytes) bytes", exit: 2)
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(bytes), options: []) } catch {
            throw ProtocolError("invalid-json", "the request is not valid JSON: one object on one line, like {\"op\":\"status\"}", exit: 2)
        }
        guard let fields = object as? [String: Any] else { throw ProtocolError("invalid-json", "the request must be a JSON object", exit: 2) }
        guard let op = fields["op"] as? String else { throw ProtocolError("bad-request", "the request has no \"op\" (follow or status)", exit: 2) }
        guard let operation = Operation(rawValue: op) else {
            throw ProtocolError("unknown-operation", "unknown operation '\(ControlProtocol.echo(op))': follow or status", exit: 2)
        }
        var request = ControlRequest(operation: operation)
        let known: Set<String> = ["op", "filter", "netns", "all_netns", "backend", "limit", "count", "timeout", "quiet_period", "view", "color", "steps", "version"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError("bad-request", "unknown request field '\(ControlProtocol.echo(unknown))'", exit: 2)
        }
        if let filter = fields["filter"] {
            guard let f = filter as? [String: Any] else { throw ProtocolError("bad-request", "\"filter\" must be an object", exit: 2) }
            if let unknown = f.keys.sorted().first(where: { !FilterSpec.fieldNames.contains($0) }) {
                throw ProtocolError("bad-request", "unknown filter field '\(ControlProtocol.echo(unknown))' (fields: \(FilterSpec.fieldNames.joined(separator: ", ")))", exit: 2)
            }
            for field in FilterSpec.fieldNames { request.filter[field] = try string(field, in: f) }
        }
        request.netns = try string("netns", in: fields)
        if let netns = request.netns { try validateNamespace(netns) }
        request.allNetns = try boolean("all_netns", in: fields) ?? false
        if request.allNetns && request.netns != nil {
            throw ProtocolError("bad-request", "\"all_netns\" traces every namespace: give it without \"netns\"", exit: 2)
        }
        request.backend = try string("backend", in: fields) ?? "auto"
        request.limit = try string("limit", in: fields) ?? "100"
        request.timeout = try string("timeout", in: fields)
        try checkDuration(request.timeout, "timeout", in: Bounds.timeout, example: "10s")
        request.quietPeriod = try string("quiet_period", in: fields)
        try checkDuration(request.quietPeriod, "quiet_period", in: Bounds.quietPeriod, example: "100ms")
        if let count = fields["count"] {
            guard let n = count as? Int, Bounds.count.contains(n) else {
                throw ProtocolError("bad-request", "\"count\" must be an integer from \(Bounds.count.lowerBound) to \(Bounds.count.upperBound)", exit: 2)
            }
            request.count = n
        }
        if let view = try string("view", in: fields) {
            guard let v = View(rawValue: view) else { throw ProtocolError("bad-request", "\"view\" must be json or text", exit: 2) }
            request.view = v
        }
        if let color = try boolean("color", in: fields) { request.color = color }
        if let steps = try string("steps", in: fields) {
            guard let s = StepDetail(rawValue: steps) else { throw ProtocolError("bad-request", "\"steps\" must be folded or all", exit: 2) }
            request.steps = s
        }
        return request
    }

    private static func string(_ key: String, in object: [String: Any]) throws -> String? {
        guard let value = object[key] else { return nil }
        guard let s = value as? String, s.utf8.count <= 256 else { throw ProtocolError("bad-request", "\"\(key)\" must be a string of at most 256 bytes", exit: 2) }
        return s
    }

    private static func boolean(_ key: String, in object: [String: Any]) throws -> Bool? {
        guard let value = object[key] else { return nil }
        guard let b = value as? Bool else { throw ProtocolError("bad-request", "\"\(key)\" must be true or false", exit: 2) }
        return b
    }

    public var line: String {
        var w = JSONWriter()
        w.beginObject()
        w.string("version", ControlProtocol.version)
        w.string("op", operation.rawValue)
        if operation == .follow {
            w.beginObject("filter")
            for field in FilterSpec.fieldNames { if let v = filter[field] { w.string(field, v) } }
            w.endObject()
            if let netns { w.string("netns", netns) }
            // Only when set: a daemon older than the field refuses unknown fields.
            if allNetns { w.bool("all_netns", true) }
            w.string("backend", backend)
            w.string("limit", limit)
            if let count { w.int("count", count) }
            if let timeout { w.string("timeout", timeout) }
            if let quietPeriod { w.string("quiet_period", quietPeriod) }
            w.string("view", view.rawValue)
            w.bool("color", color)
            // Only when not the default: a daemon older than the field refuses unknown fields.
            if steps != .folded { w.string("steps", steps.rawValue) }
        }
        w.endObject()
        return w.text
    }
}

/// Lines only the control protocol has (records themselves are fwtrace/1 lines).
public enum ControlLine {
    public static func accepted(session: String) -> String {
        var w = JSONWriter()
        w.beginObject(); w.string("type", "accepted"); w.string("session", session); w.endObject()
        return w.text
    }
    public static func view(_ text: String) -> String {
        var w = JSONWriter()
        w.beginObject(); w.string("type", "view"); w.string("text", text); w.endObject()
        return w.text
    }
    public static func notice(_ text: String) -> String {
        var w = JSONWriter()
        w.beginObject(); w.string("type", "notice"); w.string("message", text); w.endObject()
        return w.text
    }
    public static func end(exit: Int32, message: String?) -> String {
        var w = JSONWriter()
        w.beginObject(); w.string("type", "end"); w.int("exit", exit)
        if let message { w.string("message", message) }
        w.endObject()
        return w.text
    }
}
