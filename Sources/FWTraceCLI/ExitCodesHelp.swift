import FWTraceKernel

/// The EXIT CODES section of a command's help: one short line per code, so that no entry is
/// wrapped at 80 columns (a wrapped entry would lose its indentation).
enum ExitCodesHelp {
    static func section(_ entries: [(Int32, String)]) -> String {
        "EXIT CODES:\n" + entries.map { "  \($0.0)  \($0.1)" }.joined(separator: "\n")
    }
}
