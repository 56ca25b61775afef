// The bodies of the libFuzzer targets (Fuzz/Entry/*.swift call them), and of the XCTest that
// replays every input kept under Tests/FWTraceCoreTests/Fixtures/fuzz-regressions/ (this file is
// linked into FWTraceCoreTests as FuzzTargets.swift). The fuzz build compiles FWTraceCore's
// sources and this file into one library module, FWTraceFuzz, that each entry imports
// (FWTRACE_FUZZ_SINGLE_MODULE: there is no FWTraceCore module to import then).
#if !FWTRACE_FUZZ_SINGLE_MODULE
import FWTraceCore
import FWTraceNflog
#endif
import Foundation

public enum FuzzTargets {
    /// (a) One datagram of NFNLGRP_NFTRACE: framed, then every nft trace message decoded.
    public static func nftDecoder(_ bytes: [UInt8]) {
        let names = NameCache()
        try? NetlinkMessage.forEach(in: bytes) { m in
            guard m.type == NftTraceDecoder.messageType else { return }
            _ = try? NftTraceDecoder.decode(bytes, body: m.body, names: names)
        }
    }

    /// (d) What a client of the metrics listener sent: where its head ends, and its route.
    public static func metricsRequest(_ bytes: [UInt8]) {
        let end = HTTPRequestHead.end(of: bytes)
        _ = HTTPRequestHead(end.map { Array(bytes[..<$0]) } ?? bytes)?.route
    }

    /// (b) One datagram of nfnetlink_log: framed, every packet message decoded by libnetfilter_log
    /// (nflog_handle_packet, nflog_nlmsg_parse, the accessors, through FWTraceNflog's adapter), its
    /// prefix read as a TRACE prefix.
    public static func nflogDecoder(_ bytes: [UInt8]) {
        guard let messages = try? NetlinkMessage.split(bytes) else { return }
        let decoder = nflog
        for m in messages where m.type == NflogMessage.netlinkType {
            guard let logged = try? decoder.decode(bytes, message: m.offset..<m.body.upperBound) else { continue }
            _ = logged.prefix.flatMap(LegacyTracePrefix.parse)
        }
    }

    /// libnetfilter_log's offline handle: without it (not root) the targets would fuzz nothing
    /// of the legacy side, so that stops the run.
    static var nflog: NflogHandle {
        do { return try NflogHandle.offline() } catch { preconditionFailure("the nflog fuzz targets need libnetfilter_log's offline handle: \(error) (run as root)") }
    }

    /// (c) The whole pipeline over a sequence of datagrams (`PipelineInput`): decode → assemble →
    /// hints → JSON and text, as `follow` runs it, on both backends (each message goes to the
    /// backend its type names, as `replay` tells captures apart), through Core's TracePipeline, the
    /// one `follow`, `replay` and the bench run. Returns the number of paths.
    @discardableResult
    public static func pipeline(_ bytes: [UInt8], worlds: [FuzzWorld]) -> Int {
        guard !worlds.isEmpty, let input = PipelineInput(bytes) else { return 0 }
        let world = worlds[input.world % worlds.count]
        var config = PathAssembler.Configuration(ownTable: world.ownTable)
        config.maxPending = 64  // small, so that eviction is reached too
        var legacyConfig = LegacyPathAssembler.Configuration()
        legacyConfig.maxPending = 64
        var options = TracePipeline.Options()
        let interfaces: [UInt32: String] = [1: "lo", 2: "fwtcap1"]
        options.interfaceName = { interfaces[$0] }
        options.environment.listening = { _, _, port in port == 22 }
        // One pipeline per backend; each takes only the messages of its own type.
        let pipelines = [TracePipeline(backend: .nft(config), ruleset: world.nft, options: options),
                         TracePipeline(backend: .legacy(legacyConfig, conntrackInvalid: true, decoder: nflog), ruleset: world.legacy, options: options)]
        var writer = JSONWriter(capacity: 4096)
        var count = 0
        let prefix = PathRecordPrefix(RecordContext(host: "fuzz", netns: "fwt-fuzz", backend: "nft", session: "fuzz"))
        func emit(_ record: TraceRecord) {
            guard case .path(let p) = record else { return }
            count += 1
            RecordEncoder.path(p, prefix: prefix, into: &writer)
            writer.endLine()
            _ = TextView(color: true).render(p, netns: "fwt-fuzz")
            if writer.byteCount >= 1 << 15 { writer.reset() }
        }
        for (datagram, time) in input.datagrams {
            for pipeline in pipelines {
                // A stale stop hands the same rules in again (a reload that found nothing new), as
                // a session does; a stop that does not advance traps in the pipeline.
                pipeline.feed(datagram, range: datagram.indices, at: time, reload: { pipeline.ruleset }, emit: emit)
                pipeline.expire(now: time, emit: emit)
            }
        }
        for pipeline in pipelines { pipeline.flush(emit: emit) }
        return count
    }
}

/// The pipeline target's input: one byte choosing the world (fixture ruleset), then datagrams,
/// each as [delta: u8][length: u16 little-endian][bytes]. The receive time starts at 1000 s and
/// grows by delta × 10 ms before each datagram (0 to 2.55 s: within and past the quiet period
/// and the maximum age). A record cut short by the end of the input keeps what is there.
public struct PipelineInput {
    public var world: Int
    public var datagrams: [(bytes: [UInt8], time: Double)] = []

    public init?(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return nil }
        world = Int(first)
        var i = 1
        var time = 1_000.0
        while i + 3 <= bytes.count {
            time += Double(bytes[i]) * 0.01
            let length = Int(bytes[i + 1]) | Int(bytes[i + 2]) << 8
            let end = min(i + 3 + length, bytes.count)
            datagrams.append((Array(bytes[(i + 3)..<end]), time))
            i = end
        }
    }

    /// The inverse, for seeds: datagrams with their capture times.
    public static func encode(world: UInt8, _ datagrams: [(bytes: [UInt8], time: Double)]) -> [UInt8] {
        var out: [UInt8] = [world]
        var last = datagrams.first?.time ?? 0
        for d in datagrams {
            out.append(UInt8(min(max((d.time - last) / 0.01, 0), 255).rounded(.down)))
            last = d.time
            let n = min(d.bytes.count, 0xffff)
            out += [UInt8(n & 0xff), UInt8(n >> 8)] + d.bytes.prefix(n)
        }
        return out
    }
}

/// The ruleset a pipeline input is replayed against: one captured fixture's (nft listing,
/// iptables-save of both families), with fwtrace's own table from that capture.
public struct FuzzWorld {
    public var scenario: String
    public var ownTable: String
    /// For nft captures: the text listing and iptables-save, with the JSON for the hints about
    /// native rules.
    public var nft: Ruleset
    /// For legacy captures: iptables-save.
    public var legacy: Ruleset

    /// Every captured scenario in `directory` (files kernel-*-SCENARIO.hex), sorted by file name:
    /// the seed corpus (Fuzz/make-seeds.py) numbers them in the same order. `native` is an nft JSON
    /// ruleset for the shadowed-rule evaluation of native rules.
    public static func load(directory: String, native nativeJSON: String?) -> [FuzzWorld] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".hex") }.sorted()
        let json = nativeJSON.flatMap { try? NftListing(json: $0) }
        return files.map { file in
            let base = directory + "/" + file.dropLast(4)
            func text(_ suffix: String) -> String { (try? String(contentsOfFile: base + suffix, encoding: .utf8)) ?? "" }
            let v4 = text(".iptables-save.txt"), v6 = text(".ip6tables-save.txt")
            var nft = Ruleset.build(nftListing: text(".nft.txt"), iptablesSave: [.ip: v4, .ip6: v6])
            if let json { nft.addNftJSON([json]) }
            // With the owners adopted, as follow has them: the recognisers' lookups run too.
            return FuzzWorld(scenario: String(file.dropLast(4)), ownTable: ownTable(in: text(".hex")), nft: nft.withOwners(ToolState()),
                             legacy: Ruleset.parse(iptablesSave: v4, ip6tablesSave: v6).withOwners(ToolState()))
        }
    }

    static func ownTable(in capture: String) -> String {
        for d in (try? CaptureFormat.parse(capture)) ?? [] {
            for m in (try? NetlinkMessage.split(d.bytes)) ?? [] where m.type == NftTraceDecoder.messageType {
                if let e = try? NftTraceDecoder.decode(d.bytes, body: m.body), e.table.hasPrefix("fwtrace_") { return e.table }
            }
        }
        return "fwtrace"
    }
}
