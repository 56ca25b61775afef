import XCTest
@testable import FWTraceCore

/// Podman 4.3.1 + netavark 1.4.0 (real), and Docker 20.10.24's rules as its code writes them
/// (Fixtures/owners/podman, docker): a published port's DNAT names the container and the port
/// as `podman port -a` / the DNAT rule says.
final class ContainerOwnerTests: XCTestCase {
    func podmanState(_ f: OwnerFixture) -> ToolState {
        var state = ToolState()
        state.containers = [f.text("tool-podman-ps.json"), f.text("tool-podman-inspect.json")].compactMap { $0 }
        return state
    }

    /// `podman port -a`: "6c116a96ebf0\t80/tcp -> 0.0.0.0:8080" → (id prefix, container port, host port).
    func podmanPorts(_ f: OwnerFixture) throws -> [(id: String, inner: String, host: String)] {
        try f.require("tool-podman-port-a.txt").split(separator: "\n").map { line in
            let parts = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
            return (parts[0], String(parts[1].prefix { $0 != "/" }), String(parts[3].split(separator: ":").last!))
        }
    }

    func testPublishedPortsNameTheirContainer() throws {
        let f = try OwnerFixture.load("podman")
        let ports = try podmanPorts(f)
        for (trace, name) in [("v4-8080-published-web", "web"), ("v4-9090-published-api-hostip", "api")] {
            let path = try f.path(trace, state: podmanState(f))
            let dnat = try XCTUnwrap(path.steps.first { $0.nat != nil || ($0.text?.contains("-j DNAT") ?? false) }, trace)
            let owner = try XCTUnwrap(dnat.owner, trace)
            XCTAssertEqual(owner.manager, .podman)
            XCTAssertEqual(owner.text("container"), name, trace)
            let id = try XCTUnwrap(owner.text("container_id"))
            let published = try XCTUnwrap(ports.first { id.hasPrefix($0.id) }, "podman port -a lists \(id)")
            XCTAssertEqual(owner.text("port"), "\(published.host)/tcp", trace)
            XCTAssertEqual(owner.text("to").map(ContainerState.port(of:)), published.inner, trace)
            XCTAssertEqual(owner.text("network"), "podman")
            XCTAssertEqual(owner.label, "podman \(name):\(published.host)→\(published.inner)")
            // The hook rule and the HOSTPORT-DNAT rule before it are podman's too.
            XCTAssertEqual(path.step(inChain: "PREROUTING")?.owner?.manager, .podman)
            XCTAssertEqual(path.step(inChain: "NETAVARK-HOSTPORT-DNAT")?.owner?.text("container"), name)
        }
    }

    func testWithoutStateTheContainerIdStillShows() throws {
        let f = try OwnerFixture.load("podman")
        let path = try f.path("v4-8080-published-web")
        let owner = try XCTUnwrap(path.step(inChain: "NETAVARK-HOSTPORT-DNAT")?.owner)
        XCTAssertNil(owner.text("container"))
        XCTAssertEqual(owner.text("container_id")?.prefix(12), "6c116a96ebf0")
        XCTAssertEqual(owner.label, "podman 6c116a96ebf0:8080→80")
    }

    func testUnpublishedPortHasNoContainer() throws {
        let f = try OwnerFixture.load("podman")
        let path = try f.path("v4-8081-not-published", state: podmanState(f))
        XCTAssertFalse(path.steps.contains { $0.owner?.text("container") != nil })
    }

    func testDockerPublishedPort() throws {
        let f = try OwnerFixture.load("docker")
        let path = try f.path("v4-8080-published-dnat")
        let dnat = try XCTUnwrap(path.step(inChain: "DOCKER"))
        XCTAssertEqual(dnat.owner?.manager, .docker)
        XCTAssertEqual(dnat.owner?.text("port"), "8080/tcp")
        XCTAssertEqual(dnat.owner?.text("to"), "172.17.0.2:80")
        let accept = try XCTUnwrap(path.decidingOwner)
        XCTAssertEqual(accept.text("port"), "8080/tcp")
        XCTAssertEqual(accept.text("to"), "172.17.0.2:80")
        XCTAssertEqual(accept.label, "docker 8080→80")
        XCTAssertEqual(path.step(inChain: "DOCKER-USER")?.owner?.manager, .docker)   // its closing RETURN
        // A rule the admin put in DOCKER-USER stays the admin's.
        let catalog = Ruleset.build(nftListing: "", iptablesSave: [:])
        XCTAssertTrue(OwnerMap(ruleset: catalog).isEmpty)
        let facts = OwnerFacts(chains: [
            .init(family: .ip, table: "filter", name: "DOCKER", rules: []),
            .init(family: .ip, table: "filter", name: "DOCKER-USER", rules: [.init(position: 1, text: "-A DOCKER-USER -s 10.0.0.0/8 -j DROP"),
                                                                            .init(position: 2, text: "-A DOCKER-USER -j RETURN")]),
        ])
        let owners = OwnerMap(facts: facts)
        XCTAssertNil(owners.owner(.ip, "filter", "DOCKER-USER", position: 1))
        XCTAssertEqual(owners.owner(.ip, "filter", "DOCKER-USER", position: 2)?.manager, .docker)
    }

    func testContainerStateReadsPodmanAndDockerJSON() throws {
        let f = try OwnerFixture.load("podman")
        let state = ContainerState(podmanState(f).containers)
        let web = try XCTUnwrap(state.containers.first { $0.name == "web" })
        XCTAssertTrue(web.id.hasPrefix("6c116a96ebf0"))
        XCTAssertTrue(web.ports.contains { $0.host == 8080 && $0.container == 80 && $0.proto == "tcp" })
        XCTAssertEqual(web.addresses, ["10.88.0.2"])
        let docker = ContainerState([#"[{"Id":"abc","Name":"/db","NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.3"}},"Ports":{"5432/tcp":[{"HostIp":"0.0.0.0","HostPort":"15432"}]}}}]"#])
        XCTAssertEqual(docker.container(address: "172.17.0.3")?.name, "db")
        XCTAssertEqual(docker.container(hostPort: 15432, proto: "tcp")?.id, "abc")
    }

    /// containers/storage's containers.json (what follow reads of podman): id and name.
    func testPodmansStorageFileNamesTheContainer() throws {
        let dir = KernelFixture.directory().appendingPathComponent("owners/podman-storage")
        let text = try String(contentsOf: dir.appendingPathComponent("vfs-containers-containers.json"), encoding: .utf8)
        let containers = ContainerState([text]).containers
        XCTAssertEqual(containers.map(\.name), ["web"])
        XCTAssertEqual(containers.first?.id, "eba64058f6480c98687638b113d51e7336c7931f90aaa5aaf19b6ec5472d1d70")
    }
}
