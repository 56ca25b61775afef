import Glibc
import FWTraceCore

/// Reads the managers' own state that the owners use (ToolState) from their files: ufw's
/// user.rules and user6.rules, Shorewall's zones. Only files, never a tool's command (a
/// `firewall-cmd` or `podman` run per ruleset load would be slow and talk to daemons). A
/// namespace made with `ip netns` keeps its own /etc in /etc/netns/NAME (what `ip netns exec`
/// mounts over /etc): that one is read when it has the file.
public enum ToolStateReader {
    public static func read(namespace: String? = nil) -> ToolState {
        var state = ToolState()
        state.ufwUserRules = file("ufw/user.rules", namespace: namespace)
        state.ufwUserRules6 = file("ufw/user6.rules", namespace: namespace)
        state.shorewallZones = file("shorewall/zones", namespace: namespace)
        return state
    }

    /// The file under the namespace's /etc/netns/NAME, else under /etc; nil when neither is readable
    /// or it is larger than 4 MiB.
    static func file(_ path: String, namespace: String?) -> String? {
        var candidates = ["/etc/" + path]
        if let namespace, !namespace.isEmpty, !namespace.contains("/"), namespace != ".", namespace != ".." {
            candidates.insert("/etc/netns/\(namespace)/" + path, at: 0)
        }
        for candidate in candidates {
            guard let handle = fopen(candidate, "r") else { continue }
            defer { fclose(handle) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while bytes.count <= 4 << 20 {
                let n = fread(&buffer, 1, buffer.count, handle)
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            return bytes.count > 4 << 20 ? nil : String(decoding: bytes, as: UTF8.self)
        }
        return nil
    }
}
