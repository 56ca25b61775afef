import XCTest
@testable import FWTraceCore

/// The container a process is in, from its /proc/PID/cgroup.
final class ContainerCgroupTests: XCTestCase {
    /// /proc/PID/cgroup of a real podman 4.3.1 container (cgroupfs manager, Debian 12, started by
    /// Tests/tools/podman-netns.sh: `podman run -d --name probe localhost/fwt-busybox sleep 300`).
    static let podmanCgroupfs = """
    9:name=systemd:/libpod_parent/libpod-cedf8db4afb86574ff20604e646e07280d543d8c9d3bcf6904339fe25c41a91e
    8:pids:/libpod_parent/libpod-cedf8db4afb86574ff20604e646e07280d543d8c9d3bcf6904339fe25c41a91e
    0::/libpod_parent/libpod-cedf8db4afb86574ff20604e646e07280d543d8c9d3bcf6904339fe25c41a91e
    """

    func testPodmanUnderCgroupfs() {
        XCTAssertEqual(ContainerCgroup(cgroup: Self.podmanCgroupfs),
                       ContainerCgroup(runtime: .podman, id: "cedf8db4afb86574ff20604e646e07280d543d8c9d3bcf6904339fe25c41a91e"))
    }

    /// The systemd forms the runtimes write (podman's libpod-ID.scope, docker-ID.scope,
    /// cri-containerd-ID.scope under kubepods, crio-ID.scope); podman's conmon is not the container.
    func testSystemdScopesAndWhatIsNoContainer() {
        let id = String(repeating: "ab", count: 32)
        XCTAssertEqual(ContainerCgroup(cgroup: "0::/machine.slice/libpod-\(id).scope")?.runtime, .podman)
        XCTAssertEqual(ContainerCgroup(cgroup: "0::/system.slice/docker-\(id).scope")?.runtime, .docker)
        XCTAssertEqual(ContainerCgroup(cgroup: "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-\(id).scope")?.runtime, .containerd)
        XCTAssertEqual(ContainerCgroup(cgroup: "0::/kubepods.slice/crio-\(id).scope")?.id, id)
        XCTAssertNil(ContainerCgroup(cgroup: "0::/machine.slice/libpod-conmon-\(id).scope"))
        XCTAssertNil(ContainerCgroup(cgroup: "0::/user.slice/user-0.slice/session-1.scope"))
        XCTAssertNil(ContainerCgroup(cgroup: "0::/system.slice/docker-abc.scope"))
        XCTAssertNil(ContainerCgroup(cgroup: "garbage\n::\n"))
    }
}
