import Foundation
import XCTest
@testable import FWTraceCore
import FWTraceNflog

/// A capture of real kernel trace messages (Tests/tools/capture-fixtures.sh made it with
/// `fwtrace follow --capture` on Linux 6.18) and the ruleset it was captured against.
struct KernelFixture {
    let name: String
    let datagrams: [CaptureFormat.Datagram]
    let ruleset: Ruleset

    static let kernel = "kernel-6.18"

    static func directory() -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    static func load(_ scenario: String) throws -> KernelFixture {
        let base = directory().appendingPathComponent("\(kernel)-\(scenario)")
        let capture = try String(contentsOf: base.appendingPathExtension("hex"), encoding: .utf8)
        func text(_ suffix: String) -> String {
            (try? String(contentsOf: URL(fileURLWithPath: base.path + suffix), encoding: .utf8)) ?? ""
        }
        let ruleset = Ruleset.build(nftListing: text(".nft.txt"),
                                        iptablesSave: [.ip: text(".iptables-save.txt"), .ip6: text(".ip6tables-save.txt")])
        // With the owners follow computes from the ruleset alone (no tool state in a capture).
        return KernelFixture(name: scenario, datagrams: try CaptureFormat.parse(capture), ruleset: ruleset.withOwners(ToolState()))
    }

    /// The nft trace captures (legacy nfnetlink_log captures are named legacy-*).
    static var allScenarios: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory().path)) ?? []
        return files.filter { $0.hasSuffix(".hex") }.map { String($0.dropFirst(kernel.count + 1).dropLast(4)) }
            .filter { !$0.hasPrefix("legacy-") }.sorted()
    }

    /// Every trace message in the capture, with the datagram it came from.
    func messages() throws -> [(bytes: [UInt8], message: NetlinkMessage, time: Double)] {
        var out: [([UInt8], NetlinkMessage, Double)] = []
        for d in datagrams {
            for m in try NetlinkMessage.split(d.bytes) where m.type == NftTraceDecoder.messageType { out.append((d.bytes, m, d.time)) }
        }
        return out
    }

    func events() throws -> [NftTraceEvent] {
        try messages().map { try NftTraceDecoder.decode($0.bytes, body: $0.message.body) }
    }

    /// fwtrace's own table in this capture (its name holds the session id).
    func ownTable() throws -> String {
        try XCTUnwrap(try events().first { $0.table.hasPrefix("fwtrace_") }?.table)
    }

    /// In capture-fixtures.sh's server namespace, ifindex 1 is lo and 2 the veth fwtcap1.
    static let interfaceNames: @Sendable (UInt32) -> String? = { [1: "lo", 2: "fwtcap1"][$0] }

    /// Replays the capture through the trace pipeline as `follow` would (without hints: the
    /// tests that want them ask HintEngine).
    func paths(filterProtocol: UInt8? = nil) throws -> [PacketPath] {
        var config = PathAssembler.Configuration(ownTable: try ownTable())
        config.filterProtocol = filterProtocol
        var options = TracePipeline.Options()
        options.hints = false
        options.interfaceName = Self.interfaceNames
        let pipeline = TracePipeline(backend: .nft(config), ruleset: ruleset, options: options)
        var out: [PacketPath] = []
        let collect: (TraceRecord) -> Void = { if case .path(let path) = $0 { out.append(path) } }
        for d in datagrams {
            // No other ruleset to hand in: a stale stop goes on with this one.
            pipeline.feed(d.bytes, range: d.bytes.indices, at: d.time, emit: collect)
        }
        pipeline.flush(emit: collect)
        return out
    }
}

/// The one decoder of nfnetlink_log messages, libnetfilter_log, through its offline handle (an
/// nflog group bound in a private network namespace: the tests run as root).
enum Nflog {
    static func decoder() throws -> NflogHandle { try NflogHandle.offline() }

    /// The message `m` of the datagram `bytes`.
    static func decode(_ bytes: [UInt8], _ m: NetlinkMessage) throws -> NflogMessage {
        try decoder().decode(bytes, message: m.offset..<m.body.upperBound)
    }
}
