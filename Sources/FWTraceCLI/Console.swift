import Glibc

/// Unbuffered writes to stdout and stderr (no shared FILE* state, so safe under Swift 6).
enum Console {
    static let out = LineWriter(fd: 1)
    static let err = LineWriter(fd: 2)

    static func error(_ text: String) { err.write(text) }
    static func print(_ text: String) { out.write(text) }
}
