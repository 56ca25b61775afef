/// The head of an HTTP/1.x request, as much as the daemon's metrics endpoint needs: method and
/// path. The bytes come from whoever connects, so they are decoded here, pure and fuzzed
/// (Fuzz/FuzzTargets.swift, metrics-request).
public struct HTTPRequestHead: Equatable, Sendable {
    public enum Route: Equatable, Sendable { case metrics(headOnly: Bool), notFound, methodNotAllowed }
    public let method: String
    public let path: String

    /// Where the head ends (after the blank line), if it has.
    public static func end(of bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 3..<bytes.count where bytes[i] == 0x0a && bytes[i - 1] == 0x0d && bytes[i - 2] == 0x0a && bytes[i - 3] == 0x0d { return i + 1 }
        return nil
    }

    /// nil unless the first line is `METHOD TARGET HTTP/1.x`.
    public init?(_ bytes: [UInt8]) {
        guard let lineEnd = bytes.firstIndex(of: 0x0d) ?? bytes.firstIndex(of: 0x0a) else { return nil }
        let words = bytes[..<lineEnd].split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard words.count == 3, words[2].hasPrefix("HTTP/1."), !words[0].isEmpty, words[1].hasPrefix("/") else { return nil }
        method = words[0]
        // The query (Prometheus sends none; a browser may) does not choose the page.
        path = String(words[1].prefix { $0 != "?" })
    }

    public var route: Route {
        guard method == "GET" || method == "HEAD" else { return .methodNotAllowed }
        return path == "/metrics" || path == "/" ? .metrics(headOnly: method == "HEAD") : .notFound
    }
}
