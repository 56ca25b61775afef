import Glibc

/// Reading the small files and directories fwtrace looks at besides netlink (/proc, /run/netns,
/// the managers' files): one reader, through FileDescriptor's EINTR-retrying read.
public enum SmallFiles {
    /// A file's text; nil when it is unreadable or larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 4 << 20) -> String? {
        guard let file = try? FileDescriptor.open(path, O_RDONLY | O_CLOEXEC) else { return nil }
        defer { file.close() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            guard let n = try? buffer.withUnsafeMutableBytes({ (raw) throws(SystemError) in try file.read(into: raw) }), n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return bytes.count > limit ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// The names in a directory (without . and ..); empty when it cannot be opened.
    public static func names(inDirectory path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Whether the path is a directory that can be opened.
    public static func isDirectory(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return false }
        closedir(dir)
        return true
    }
}
