import XCTest
@testable import FWTraceCore

/// The hints of issue 14 on the real tools' rulesets and traces (Fixtures/owners): each fires on
/// its scenario and stays silent on the near miss, a trace of the same fixture.
final class OwnerHintTests: XCTestCase {
    /// fail2ban bans 10.77.0.9 and fd77::9 in jail sshd, with the iptables and the nftables actions.
    func testBannedClient() throws {
        for tool in ["fail2ban", "fail2ban-nftables"] {
            let f = try OwnerFixture.load(tool)
            for (trace, address) in [("v4-22-from-banned-10.77.0.9", "10.77.0.9"), ("v4-8080-from-banned-10.77.0.9", "10.77.0.9"),
                                     ("v6-8080-from-banned-fd77-9", "fd77::9")] {
                let hint = try XCTUnwrap(try f.hinted(trace).hint("banned"), "\(tool) \(trace)")
                XCTAssertEqual(hint.value("jail"), "sshd")
                XCTAssertEqual(hint.value("address"), address)
                XCTAssertEqual(hint.value("fix"), "fail2ban-client set sshd unbanip \(address)")
                // As `fail2ban-client get sshd banip --with-time` printed it in this capture.
                let ban = HintTools.parseBans(try f.require("tool-fail2ban-client-get-sshd-banip-with-time.txt"))[address]
                XCTAssertEqual(hint.value("since"), try XCTUnwrap(ban).since, tool)
                XCTAssertEqual(hint.value("until"), ban?.until, tool)
                XCTAssertTrue(hint.message.contains("`fail2ban-client set sshd unbanip \(address)`"), hint.message)
                // Without the ban list: the ban all the same, no time.
                let bare = try XCTUnwrap(try f.hinted(trace, bans: [:]).hint("banned"))
                XCTAssertNil(bare.value("since"))
            }
            for trace in ["v4-8080-not-banned", "v6-8080-not-banned"] {
                XCTAssertNil(try f.hinted(trace).hint("banned"), "\(tool) \(trace)")
            }
        }
    }

    func testServiceWithoutEndpoints() throws {
        let f = try OwnerFixture.load("kube-proxy")
        let hint = try XCTUnwrap(try f.hinted("v4-nodeport-30081-no-endpoints").hint("no-endpoints"))
        XCTAssertEqual(hint.value("service"), "default/empty:http")
        XCTAssertEqual(hint.value("chain"), "filter/KUBE-EXTERNAL-SERVICES")
        XCTAssertEqual(hint.value("fix"), "kubectl get endpointslices -n default -l kubernetes.io/service-name=empty")
        XCTAssertNil(try f.hinted("v4-nodeport-30080-endpoint").hint("no-endpoints"))
    }

    /// 8080/tcp was opened in zone work (source 10.77.0.8/29); the client 10.77.0.2 came in on
    /// o0, zone public's interface.
    func testFirewalldZoneThatTookThePacket() throws {
        let f = try OwnerFixture.load("firewalld")
        let hint = try XCTUnwrap(try f.hinted("v4-8080-public-rejected").hint("firewalld-zone"))
        XCTAssertEqual(hint.value("zone"), "public")
        XCTAssertEqual(hint.value("bound_by"), "interface")
        XCTAssertEqual(hint.value("binding"), "o0")
        XCTAssertEqual(hint.value("other_zone"), "work")
        XCTAssertEqual(hint.value("other_element"), "port 8080/tcp")
        XCTAssertEqual(hint.value("fix"), "firewall-cmd --zone public --add-port 8080/tcp --permanent; firewall-cmd --reload")
        for trace in f.traces where trace != "v4-8080-public-rejected" {
            XCTAssertNil(try f.hinted(trace).hint("firewalld-zone"), trace)
        }
        // Without firewalld's zones it cannot tell where the port is open: silent.
        XCTAssertNil(try f.hinted("v4-8080-public-rejected", state: ToolState()).hint("firewalld-zone"))
    }

    /// ufw denies 8080/tcp, Docker's published 8080 is reachable all the same.
    func testPublishedDockerPortReachableThoughUfwDenies() throws {
        let f = try OwnerFixture.load("ufw-docker")
        let hint = try XCTUnwrap(try f.hinted("v4-8080-ufw-denies-docker-accepts").hint("published-port"))
        XCTAssertEqual(hint.value("runtime"), "docker")
        XCTAssertEqual(hint.value("published"), "10.77.0.1:8080/tcp")
        XCTAssertEqual(hint.value("to"), "172.17.0.2:80")
        XCTAssertEqual(hint.value("input_denies"), "ufw rule 1 (`8080/tcp DENY IN Anywhere`)")
        // Replay knows no interface names: follow adds `-i o0` after DOCKER-USER.
        XCTAssertEqual(hint.value("fix"), "iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j DROP")
        XCTAssertNil(try f.hinted("v4-22-ufw-allowed").hint("published-port"))

        let docker = try OwnerFixture.load("docker")
        let alone = try XCTUnwrap(try docker.hinted("v4-8080-published-dnat").hint("published-port"))
        XCTAssertNil(alone.value("input_denies"))
        XCTAssertNil(try docker.hinted("v4-8081-host-input").hint("published-port"))
    }

    /// netavark 1.4: reachable where FORWARD accepts; under ufw, its routed policy drops it until
    /// `ufw route allow` (the command the capture ran for route-allow/).
    func testPublishedPodmanPort() throws {
        let podman = try OwnerFixture.load("podman")
        for trace in ["v4-8080-published-web", "v4-9090-published-api-hostip"] {
            let hint = try XCTUnwrap(try podman.hinted(trace).hint("published-port"), trace)
            XCTAssertEqual(hint.value("runtime"), "podman")
            XCTAssertTrue(hint.value("fix")?.hasPrefix("iptables -I FORWARD -p tcp -m conntrack --ctorigdstport ") == true)
        }
        XCTAssertNil(try podman.hinted("v4-8081-not-published").hint("published-port"))

        let ufw = try OwnerFixture.load("ufw-podman")
        let hint = try XCTUnwrap(try ufw.hinted("v4-8080-published-dropped-forward-policy").hint("published-port"))
        XCTAssertEqual(hint.value("to"), "10.88.0.2:80")
        XCTAssertEqual(hint.value("fix"), "ufw route allow proto tcp from any to 10.88.0.2 port 80")
        for trace in ["v4-22-ufw-allowed", "v4-9999-ufw-default-deny"] {
            XCTAssertNil(try ufw.hinted(trace).hint("published-port"), trace)
        }
        let routed = try OwnerFixture.load("ufw-podman/route-allow")
        XCTAssertTrue(try XCTUnwrap(routed.text("README.md")).contains("`\(hint.value("fix")!)`"))
        let after = try routed.hinted("v4-8080-published-ufw-route-allowed")
        XCTAssertEqual(after.verdict, .accept)
        XCTAssertNil(after.hint("published-port"))
    }

    /// `ufw allow 80/tcp` (rule 4) comes before `ufw deny from 10.77.0.9 … port 80` (rule 5).
    func testUfwAllowShadowsTheAdminsDeny() throws {
        let f = try OwnerFixture.load("ufw")
        let hint = try XCTUnwrap(try f.hinted("v4-80-from-10.77.0.9-deny-shadowed").hint("shadowed-deny"))
        XCTAssertEqual(hint.value("owner"), "ufw rule 4")
        XCTAssertEqual(hint.value("shadowed_owner"), "ufw rule 5")
        XCTAssertEqual(hint.value("fix"), "ufw delete 5; ufw insert 4 deny proto tcp from 10.77.0.9 to any port 80")
        XCTAssertTrue(hint.message.contains("`80/tcp DENY IN 10.77.0.9`"), hint.message)
        for trace in f.traces where trace != "v4-80-from-10.77.0.9-deny-shadowed" {
            XCTAssertNil(try f.hinted(trace).hint("shadowed-deny"), trace)
        }
    }

    /// ufw's default deny (incoming) dropped 9999: the fix is a ufw rule.
    func testUfwDefaultPolicyInUfwTerms() throws {
        let f = try OwnerFixture.load("ufw")
        let hint = try XCTUnwrap(try f.hinted("v4-9999-default-deny").hint("policy"))
        XCTAssertEqual(hint.value("owner"), "ufw default deny (incoming)")
        XCTAssertEqual(hint.value("fix"), "ufw allow proto tcp from any to any port 9999")
        let routed = try XCTUnwrap(try OwnerFixture.load("ufw-podman").hinted("v4-8080-published-dropped-forward-policy").hint("policy"))
        XCTAssertEqual(routed.value("fix"), "ufw route allow proto tcp from any to 10.88.0.2 port 80")
    }

    /// Under `ufw default deny outgoing` the fix is an outgoing rule, to the packet's address: the
    /// ufw fixture's ruleset with OUTPUT's policy DROP (what that command sets), a packet the host sends.
    func testUfwDefaultDenyOutgoingAsksForAnOutgoingRule() throws {
        let f = try OwnerFixture.load("ufw")
        let save = try f.require("iptables-nft-save.txt").replacingOccurrences(of: ":OUTPUT ACCEPT", with: ":OUTPUT DROP")
        XCTAssertTrue(save.contains(":OUTPUT DROP"))
        let ruleset = Ruleset.parse(iptablesSave: save).withOwners(f.fullState)
        var packet = PacketSummary(family: .ip, src: IPAddress("10.77.0.1")!, dst: IPAddress("10.77.0.2")!, protocolNumber: 6, length: 60, ttl: 64)
        packet.sport = 40000; packet.dport = 443; packet.tcpFlags = 0x02
        var path = PacketPath(traceID: 1, family: .ip, time: 0, packet: packet)
        var step = PathStep(hook: .output, table: "filter", tableFamily: .ip, chain: "OUTPUT", kind: .policy, verdict: .drop)
        step.owner = ruleset.chain(.ip, "filter", "OUTPUT")?.policyOwner
        path.steps = [step]
        path.verdict = .drop
        path.decidedBy = 0
        let hint = try XCTUnwrap(HintEngine.hints(for: path, context: f.hintContext(f.fullState, bans: [:], legacy: false)).first { $0.code == "policy" })
        XCTAssertEqual(hint.value("owner"), "ufw default deny (outgoing)")
        XCTAssertEqual(hint.value("fix"), "ufw allow out proto tcp from any to 10.77.0.2 port 443")
        XCTAssertTrue(hint.message.contains("To let it out"), hint.message)
    }

    /// The pipeline hands the tools' state to the hints (follow's and replay's way).
    func testPipelineGivesTheHintsTheToolState() throws {
        let f = try OwnerFixture.load("ufw")
        let capture = CaptureReplay(text: Array(try f.require("trace-v4-80-from-10.77.0.9-deny-shadowed.hex").utf8))
        var paths: [PacketPath] = []
        capture.run(ruleset: f.catalog.withOwners(f.fullState), options: TracePipeline.Options(), nflog: nil) { output in
            if case .record(.path(let path), _) = output { paths.append(path) }
        }
        XCTAssertNotNil(try XCTUnwrap(paths.first).hint("shadowed-deny"))
    }
}
