import Glibc
import FWTraceCore

/// Reads the managers' own state that the owners use (ToolState) from their files: ufw's
/// user.rules and user6.rules, Shorewall's zones, firewalld's permanent zones and services,
/// podman's containers (containers/storage's containers.json). Only files, never a tool's command (a
/// `firewall-cmd` or `podman` run per ruleset load would be slow and talk to daemons). A
/// namespace made with `ip netns` keeps its own /etc in /etc/netns/NAME (what `ip netns exec`
/// mounts over /etc): that one is read when it has the file.
public enum ToolStateReader {
    public static func read(namespace: String? = nil) -> ToolState {
        var state = ToolState()
        state.ufwUserRules = file("ufw/user.rules", namespace: namespace)
        state.ufwUserRules6 = file("ufw/user6.rules", namespace: namespace)
        state.shorewallZones = file("shorewall/zones", namespace: namespace)
        if let containers = podmanContainers(namespace: namespace) { state.containers.append(containers) }
        // firewalld's permanent zones and services: the package's, overridden by /etc's.
        for directory in ["/usr/lib/firewalld/zones", etcDirectory("firewalld/zones", namespace: namespace)] {
            for (name, xml) in xmlFiles(directory) { state.addFirewalldZone(name, xml: xml) }
        }
        for directory in ["/usr/lib/firewalld/services", etcDirectory("firewalld/services", namespace: namespace)] {
            for (name, xml) in xmlFiles(directory) { state.addFirewalldService(name, xml: xml) }
        }
        return state
    }

    /// NAME → text of each NAME.xml in the directory (none when it is absent).
    static func xmlFiles(_ directory: String) -> [(String, String)] {
        SmallFiles.names(inDirectory: directory).compactMap { name in
            guard name.hasSuffix(".xml"), name.count > 4, let text = SmallFiles.read(directory + "/" + name) else { return nil }
            return (String(name.dropLast(4)), text)
        }
    }

    /// Podman's containers as containers/storage keeps them (`<graphroot>/<driver>-containers/
    /// containers.json`: each container's id and names), the graphroot and driver from
    /// containers/storage.conf (Debian's default /var/lib/containers/storage, overlay): how a
    /// step's netavark rule, which names the container by id, gets its name without running podman.
    static func podmanContainers(namespace: String?) -> String? {
        let conf = file("containers/storage.conf", namespace: namespace) ?? ""
        let graphroot = tomlString("graphroot", in: conf) ?? "/var/lib/containers/storage"
        let driver = tomlString("driver", in: conf) ?? "overlay"
        guard graphroot.hasPrefix("/"), !driver.contains("/") else { return nil }
        return SmallFiles.read(graphroot + "/" + driver + "-containers/containers.json")
    }

    /// `key = "value"` in a TOML text's [storage] table (storage.conf's form); nil when absent.
    static func tomlString(_ key: String, in text: String) -> String? {
        var inStorage = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { inStorage = line == "[storage]"; continue }
            guard inStorage, let eq = line.firstIndex(of: "="), line[..<eq].trimmingCharacters(in: .whitespaces) == key else { continue }
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard value.count >= 2, value.hasPrefix("\""), let end = value.dropFirst().firstIndex(of: "\"") else { return nil }
            return String(value[value.index(after: value.startIndex)..<end])
        }
        return nil
    }

    /// The directory under the namespace's /etc/netns/NAME when it is there (`ip netns exec`
    /// mounts it over /etc, so the tool in there sees only it), else under /etc.
    static func etcDirectory(_ path: String, namespace: String?) -> String {
        if let namespace, isPlainName(namespace) {
            let candidate = "/etc/netns/\(namespace)/" + path
            if SmallFiles.isDirectory(candidate) { return candidate }
        }
        return "/etc/" + path
    }

    static func isPlainName(_ name: String) -> Bool { !name.isEmpty && !name.contains("/") && name != "." && name != ".." }

    /// The file under the namespace's /etc/netns/NAME, else under /etc; nil when neither is readable
    /// or it is larger than 4 MiB.
    static func file(_ path: String, namespace: String?) -> String? {
        var candidates = ["/etc/" + path]
        if let namespace, isPlainName(namespace) {
            candidates.insert("/etc/netns/\(namespace)/" + path, at: 0)
        }
        for candidate in candidates { if let text = SmallFiles.read(candidate) { return text } }
        return nil
    }
}
