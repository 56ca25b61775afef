import Foundation
import XCTest

/// Every subcommand's --help: at 80 columns exactly the committed text (HelpSnapshots/; set
/// FWTRACE_RECORD_SNAPSHOTS=1 to write them anew after an intended change), every line within the
/// terminal's width at 80 and 120 columns, no paragraph hard-wrapped in the source (only
/// ArgumentParser wraps, so the text reads well at any width), and the exit codes listed.
final class HelpTests: XCTestCase {
    static let directory = E2E.packageRoot.appendingPathComponent("Tests/FWTraceEndToEndTests/HelpSnapshots")
    /// The commands and the snapshot each is kept in.
    static let commands: [([String], String)] = [
        ([], "fwtrace"), (["follow"], "follow"), (["explain"], "explain"), (["replay"], "replay"), (["daemon"], "daemon"),
        (["status"], "status"), (["demo"], "demo"), (["cleanup"], "cleanup"), (["lab"], "lab"),
        (["lab", "listen"], "lab-listen"), (["lab", "connect"], "lab-connect"),
    ]

    func help(_ command: [String], columns: Int) throws -> String {
        let r = try E2E.run(["COLUMNS=\(columns)", E2E.binary] + command + ["--help"])
        XCTAssertEqual(r.stderr, "", "\(command) --help wrote to stderr")
        return r.stdout
    }

    func testHelpAt80ColumnsIsTheCommittedText() throws {
        for (command, name) in Self.commands {
            let text = try help(command, columns: 80)
            let url = Self.directory.appendingPathComponent("\(name).txt")
            if ProcessInfo.processInfo.environment["FWTRACE_RECORD_SNAPSHOTS"] != nil {
                try text.write(to: url, atomically: false, encoding: .utf8)
                continue
            }
            let stored = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            guard text != stored else { continue }
            // A readable diff of what changed.
            let fresh = NSTemporaryDirectory() + "fwtrace-help-\(name)-\(UUID().uuidString).txt"
            try text.write(toFile: fresh, atomically: false, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: fresh) }
            let diff = try E2E.run(["diff", "-u", url.path, fresh], check: false).stdout
            XCTFail("`COLUMNS=80 fwtrace \(command.joined(separator: " ")) --help` is not \(url.lastPathComponent) (FWTRACE_RECORD_SNAPSHOTS=1 records it):\n\(diff)")
        }
    }

    func testEveryLineFitsTheTerminal() throws {
        for columns in [80, 120] {
            for (command, _) in Self.commands {
                for line in try help(command, columns: columns).split(separator: "\n") where line.count > columns {
                    XCTFail("`COLUMNS=\(columns) fwtrace \(command.joined(separator: " ")) --help` has a line of \(line.count) characters: \(line)")
                }
            }
        }
    }

    /// With room for any line, the help shows the source's own line breaks: prose must be one line
    /// per paragraph (two prose lines in a row are a hard wrap), and each option's help one line.
    func testNoParagraphIsHardWrappedInTheSource() throws {
        for (command, _) in Self.commands {
            let lines = try help(command, columns: 10_000).components(separatedBy: "\n")
            let name = "fwtrace \(command.joined(separator: " ")) --help"
            let usage = lines.firstIndex { $0.hasPrefix("USAGE:") } ?? lines.count
            for i in 1..<usage where !lines[i].isEmpty && !lines[i - 1].isEmpty && !lines[i].hasPrefix(" ") {
                XCTFail("\(name): a paragraph broken in the source, between\n  \(lines[i - 1])\nand\n  \(lines[i])")
            }
            // Options: an entry is one line, or its names then its help when the names are long.
            for i in usage..<lines.count where lines[i].hasPrefix("      ") {
                let previous = lines[i - 1]
                let namesOnly = previous.hasPrefix("  -") && !previous.dropFirst(2).contains("  ")
                if !namesOnly { XCTFail("\(name): an option's help broken in the source:\n  \(previous)\n  \(lines[i])") }
            }
        }
    }

    func testEverySubcommandListsItsExitCodes() throws {
        for (command, _) in Self.commands where command.count <= 1 {
            let text = try help(command, columns: 80)
            XCTAssertTrue(text.contains("\nEXIT CODES:\n  0  "), "fwtrace \(command) --help lists no exit codes:\n\(text)")
            // replay reads files only: no privileges needed, no backend to be unavailable.
            for code in command == ["replay"] ? ["1", "2"] : ["1", "2", "4", "5"] {
                XCTAssertTrue(text.contains("\n  \(code)  "), "fwtrace \(command) --help does not list exit code \(code)")
            }
        }
        for command in [[], ["follow"]] {
            XCTAssertTrue(try help(command, columns: 80).contains("\n  6  the fwtrace daemon stopped before the session ended\n"), "\(command)")
        }
    }
}
