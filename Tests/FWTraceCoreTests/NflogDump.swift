import Foundation
@testable import FWTraceCore

/// One line per nfnetlink_log packet message of every capture under a fixtures directory: the
/// fields of NflogMessage the legacy assembler reads.
enum NflogDump {
    static func describe(_ m: NflogMessage) -> String {
        func o<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "-" }
        let payload = m.payload.map { $0.map { String(format: "%02x", $0) }.joined() } ?? "-"
        let ct = m.conntrack.map { "\(o($0.id))/\(o($0.status))" } ?? "-"
        let time = m.timestamp.map { String(format: "%.6f", $0) } ?? "-"
        return "family=\(m.family) group=\(m.resourceID) proto=\(o(m.hardwareProtocol)) hook=\(o(m.hook)) mark=\(o(m.mark)) time=\(time) in=\(o(m.inDevice)) out=\(o(m.outDevice)) physin=\(o(m.physInDevice)) physout=\(o(m.physOutDevice)) ct=\(ct) ctinfo=\(o(m.conntrackInfo)) prefix=\(o(m.prefix).debugDescription) payload=\(payload)"
    }

    /// Every capture's messages under `root`, decoded by `decode`, as lines (files sorted, the
    /// messages of each in order; "error" for one that does not decode).
    static func lines(root: String, _ decode: ([UInt8], NetlinkMessage) throws -> NflogMessage) throws -> [String] {
        let files = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".hex") }.sorted()
        var out: [String] = []
        for file in files {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            guard let datagrams = try? CaptureFormat.parse(text) else { continue }
            var n = 0
            for d in datagrams {
                guard let messages = try? NetlinkMessage.split(d.bytes) else { continue }
                for m in messages where m.type == 4 << 8 {
                    let line: String
                    do { line = describe(try decode(d.bytes, m)) } catch { line = "error" }
                    out.append("\(file) #\(n) \(line)")
                    n += 1
                }
            }
        }
        return out
    }
}
