import Foundation
import XCTest
@testable import FWTraceKernel

/// follow reads ufw's and Shorewall's files for the owners, from the namespace's /etc/netns/NAME
/// (what `ip netns exec` mounts over /etc) before /etc. Works on a name of its own under
/// /etc/netns, which it makes and removes; reads nothing of the host's but /etc's own files.
final class ToolStateReaderTests: XCTestCase {
    func testTheNamespacesEtcComesFirst() throws {
        let name = "fwt-own-reader-\(getpid())"
        let dir = "/etc/netns/\(name)"
        let hadNetns = FileManager.default.fileExists(atPath: "/etc/netns")
        guard (try? FileManager.default.createDirectory(atPath: dir + "/ufw", withIntermediateDirectories: true)) != nil else {
            return XCTFail("cannot write /etc/netns: run the suite as root")
        }
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            if !hadNetns { rmdir("/etc/netns") }
        }
        try "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n".write(toFile: dir + "/ufw/user.rules", atomically: true, encoding: .utf8)
        // firewalld in the namespace reads its /etc/netns/NAME/firewalld only: so does follow.
        try FileManager.default.createDirectory(atPath: dir + "/firewalld/zones", withIntermediateDirectories: true)
        try "<?xml version=\"1.0\"?><zone><short>Own</short><port protocol=\"tcp\" port=\"4444\"/></zone>\n"
            .write(toFile: dir + "/firewalld/zones/fwtown.xml", atomically: true, encoding: .utf8)
        let state = ToolStateReader.read(namespace: name)
        XCTAssertNotNil(state.firewalldZoneXML["fwtown"])
        XCTAssertNil(ToolStateReader.read(namespace: nil).firewalldZoneXML["fwtown"])
        XCTAssertEqual(state.ufwUserRules, "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n")
        // Not in the namespace's /etc: /etc's own file, or nothing.
        XCTAssertEqual(state.ufwUserRules6, ToolStateReader.file("ufw/user6.rules", namespace: nil))
        // A name that is a path is not looked up under /etc/netns.
        XCTAssertNotEqual(ToolStateReader.file("ufw/user.rules", namespace: "../\(name)"), state.ufwUserRules)
    }

    /// firewalld's package zones and services (Debian's firewalld is installed on these machines).
    func testFirewalldsZonesAndServices() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/firewalld/zones/public.xml") else {
            return XCTFail("no /usr/lib/firewalld/zones/public.xml: install the firewalld package (make deps)")
        }
        let state = ToolStateReader.read()
        XCTAssertNotNil(state.firewalldZoneXML["public"])
        XCTAssertEqual(state.firewalldServices["ssh"], ["22/tcp"])
        XCTAssertEqual(state.firewalldServices["dns"]?.sorted(), ["53/tcp", "53/udp"])
    }

    /// podman's containers from containers/storage: the graphroot and driver of the namespace's
    /// containers/storage.conf (as podman-netns.sh writes it), then <graphroot>/<driver>-containers.
    func testPodmansContainersFromItsStorage() throws {
        let name = "fwt-own-reader-p\(getpid())"
        let dir = "/etc/netns/\(name)", graphroot = NSTemporaryDirectory() + "fwt-own-reader-storage-\(getpid())"
        let hadNetns = FileManager.default.fileExists(atPath: "/etc/netns")
        guard (try? FileManager.default.createDirectory(atPath: dir + "/containers", withIntermediateDirectories: true)) != nil else {
            return XCTFail("cannot write /etc/netns: run the suite as root")
        }
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: graphroot)
            if !hadNetns { rmdir("/etc/netns") }
        }
        try FileManager.default.createDirectory(atPath: graphroot + "/vfs-containers", withIntermediateDirectories: true)
        try "[storage]\ndriver = \"vfs\"\ngraphroot = \"\(graphroot)\"\n".write(toFile: dir + "/containers/storage.conf", atomically: true, encoding: .utf8)
        let json = #"[{"id":"eba64058f648","names":["web"]}]"#
        try json.write(toFile: graphroot + "/vfs-containers/containers.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(ToolStateReader.read(namespace: name).containers, [json])
        XCTAssertEqual(ToolStateReader.tomlString("graphroot", in: "[other]\ngraphroot = \"/x\"\n[storage]\ngraphroot = \"/y\""), "/y")
    }
}
