import XCTest
@testable import FWTraceCore

/// Legacy path assembly replayed from real nfnetlink_log captures and the ruleset they refer to.
final class LegacyPathAssemblerTests: XCTestCase {
    func replay(_ scenario: String, conntrackInvalid: Bool = false) throws -> [PacketPath] {
        let base = KernelFixture.directory().appendingPathComponent("\(KernelFixture.kernel)-\(scenario)")
        let capture = try CaptureFormat.parse(try String(contentsOf: base.appendingPathExtension("hex"), encoding: .utf8))
        let save = try String(contentsOf: URL(fileURLWithPath: base.path + ".iptables-save.txt"), encoding: .utf8)
        let assembler = LegacyPathAssembler(ruleset: Ruleset.parse(iptablesSave: save))
        var paths: [PacketPath] = []
        for d in capture {
            for m in try NetlinkMessage.split(d.bytes) where m.type == NflogMessage.netlinkType {
                let logged = try Nflog.decode(d.bytes, m)
                if let trace = logged.prefix.flatMap(LegacyTracePrefix.parse) {
                    paths += assembler.ingest(logged, trace: trace, at: d.time)
                } else if conntrackInvalid {
                    assembler.noteConntrackInvalid(logged)
                }
            }
        }
        return paths + assembler.flush()
    }

    func testJumpReturnRejectAndDNATFromCapture() throws {
        let paths = try replay("legacy-v4-fail2ban-return-reject-and-dnat")
        XCTAssertEqual(paths.count, 2)
        let ssh = paths[0]
        XCTAssertEqual(ssh.packet.dport, 22)
        let filter = ssh.steps.filter { $0.table == "filter" }
        XCTAssertEqual(filter.map(\.kind), [.jump, .return, .rule])
        XCTAssertEqual(filter[0].target, "fail2ban-SSH")
        XCTAssertEqual(filter[2].rule, 4)
        XCTAssertEqual(filter[2].text, "-A INPUT -j REJECT --reject-with icmp-host-prohibited")
        XCTAssertEqual(ssh.verdict, .reject)
        XCTAssertFalse(ssh.incomplete)
        // Rule numbers are the user's: fwtrace's TRACE rule (raw PREROUTING 1) is taken out.
        XCTAssertEqual(ssh.steps.first { $0.table == "raw" }?.kind, .policy)

        let dnat = paths[1]
        let nat = try XCTUnwrap(dnat.steps.first { $0.table == "nat" && $0.kind == .rule })
        XCTAssertEqual(nat.text, "-A PREROUTING -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.99.0.2:80")
        XCTAssertEqual(nat.nat?.before.dport, 8081)
        XCTAssertEqual(nat.nat?.after.dport, 80)
        XCTAssertEqual(dnat.decidingStep?.rule, 3)
        XCTAssertEqual(dnat.verdict, .accept)
    }

    func testOwnTraceRuleIsLeftOutOfPositions() {
        let save = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m comment --comment "fwtrace:abcd0123:42" -j TRACE
        -A PREROUTING -p udp -j ACCEPT
        COMMIT
        """
        let r = Ruleset.parse(iptablesSave: save)
        XCTAssertEqual(r.chain(.ip, "raw", "PREROUTING")?.rules.map(\.text), ["-A PREROUTING -p udp -j ACCEPT"])
        XCTAssertEqual(r.userPosition(.ip, "raw", "PREROUTING", kernel: 2), 1)
        XCTAssertEqual(r.userPosition(.ip, "raw", "PREROUTING", kernel: 3), 2)
        XCTAssertTrue(Ruleset.hasUserRules(save))
        XCTAssertFalse(Ruleset.hasUserRules("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment fwtrace:x:1 -j TRACE\nCOMMIT"))
    }

    func testTargetsBecomeVerdicts() {
        let save = """
        *filter
        :INPUT DROP [0:0]
        :LOGDROP - [0:0]
        -A INPUT -j LOG --log-prefix "x "
        -A INPUT -j LOGDROP
        -A INPUT -g LOGDROP
        -A INPUT -j RETURN
        -A INPUT -j NFQUEUE --queue-num 1
        -A INPUT -p tcp -j ACCEPT
        -A LOGDROP -j DROP
        COMMIT
        """
        let rules = Ruleset.parse(iptablesSave: save).chain(.ip, "filter", "INPUT")!.rules
        XCTAssertEqual(rules.map(\.iptablesVerdict), [.continue, .jump, .goto, .return, .queue, .accept])
        XCTAssertEqual(Ruleset.parse(iptablesSave: save).chain(.ip, "filter", "INPUT")?.policy, .drop)
    }

    func testConntrackInvalidLogIsIgnoredWhenItConcernsAnUntracedPacket() throws {
        // The capture's invalid log is about the host's RST, which fwtrace did not trace.
        let paths = try replay("legacy-v4-ack-accepted-and-ct-invalid", conntrackInvalid: true)
        XCTAssertEqual(paths.count, 1)
        XCTAssertNil(paths[0].conntrack?.invalidReason)
        XCTAssertEqual(paths[0].decidingStep?.rule, 3)
    }

    /// Each step carries the mark its message reported: before the rule's target ran, so the
    /// MARK and restore rules still show none and the step after them 0x10. The text view puts
    /// the change on the rule that made it, as on nft (capture-mark-fixtures.sh).
    func testMarkOfEachStepAndWhereTheTextViewShowsItsChange() throws {
        let paths = try replay("legacy-v4-mark-connmark-restore")
        XCTAssertEqual(paths.count, 3)
        XCTAssertEqual(paths.map(\.verdict), [.accept, .accept, .accept])
        XCTAssertEqual(paths[0].steps.map(\.mark), [0, 0, 0x10, 0x10, 0x10, 0x10])
        XCTAssertEqual(paths[1].steps.map(\.mark), [0, 0, 0x10, 0x10, 0x10])
        XCTAssertTrue(paths.allSatisfy { $0.mark == nil && $0.markTiming == .beforeTarget })
        XCTAssertEqual(paths[0].steps[1].text, "-A PREROUTING -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -j MARK --set-xmark 0x10/0xffffffff")
        for (path, changedBy) in [(paths[0], "-j MARK"), (paths[1], "--restore-mark")] {
            let lines = TextView(color: false).render(path, netns: nil).split(separator: "\n")
            let changes = lines.filter { $0.contains("[mark ") }
            XCTAssertEqual(changes.count, 1, "\(lines)")
            XCTAssertTrue(changes.first?.contains(changedBy) == true, "\(lines)")
            XCTAssertTrue(changes.first?.hasSuffix("→ continue  [mark 0x10]") == true, "\(lines)")
        }
    }
}
