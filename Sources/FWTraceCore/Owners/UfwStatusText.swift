import Foundation

/// The text `ufw status numbered` shows for a rule, whitespace collapsed to single spaces.
///
/// A port of ufw 0.36.2's src/backend_iptables.py `get_status(verbose=False, show_count=True)`
/// (the To / Action / From columns, the `(v6)` marks, interfaces, log attributes, comments);
/// `parse` reads the command's own output, which wins where it was given.
enum UfwStatusText {
    static func render(_ r: UfwUserRules.Tuple) -> String {
        let isApp = !r.dapp.isEmpty || !r.sapp.isEmpty
        var location: [String: String] = [:]
        for loc in ["dst", "src"] {
            let tmp = loc == "dst" ? r.dst : r.src
            let app = loc == "dst" ? r.dapp : r.sapp
            var port = app.isEmpty ? (loc == "dst" ? r.dport : r.sport) : app
            if !app.isEmpty, r.v6, tmp == "::/0" { port += " (v6)" }
            var text = tmp != "0.0.0.0/0" && tmp != "::/0" ? tmp : ""
            if port != "any" {
                text = text.isEmpty ? port : text + " " + port
                if !isApp && r.proto != "any" { text += "/" + r.proto }
            } else if tmp == "0.0.0.0/0" || tmp == "::/0" {
                text = "Anywhere"
                if !isApp && r.proto != "any" && r.dst == r.src && r.dport == r.sport { text += "/" + r.proto }
                if tmp == "::/0" { text += " (v6)" }
            } else if !isApp && r.proto != "any" && r.dport == r.sport {
                text += "/" + r.proto
            }
            if port != "any", r.v6, r.src == "::/0", r.dst == "::/0", !text.contains(" (v6)") { text += " (v6)" }
            if r.forward {
                if loc == "src", !r.interfaceIn.isEmpty { text += " on \(r.interfaceIn)" }
                if loc == "dst", !r.interfaceOut.isEmpty { text += " on \(r.interfaceOut)" }
            } else {
                if loc == "dst", !r.interfaceIn.isEmpty { text += " on \(r.interfaceIn)" }
                if loc == "src", !r.interfaceOut.isEmpty { text += " on \(r.interfaceOut)" }
            }
            location[loc] = text
        }
        var attributes: [String] = []
        if !r.logtype.isEmpty { attributes.append(r.logtype.lowercased()) }
        if r.direction == "out" { attributes.append("out") }
        let direction = r.forward ? "FWD" : r.direction.uppercased()
        var parts = [location["dst"]!, r.action.uppercased() + " " + direction, location["src"]!]
        if !attributes.isEmpty { parts.append("(\(attributes.joined(separator: ", ")))") }
        if !r.comment.isEmpty { parts.append("# " + r.comment) }
        return collapse(parts.joined(separator: " "))
    }

    /// `[ 2] 8080/tcp   ALLOW IN   10.77.0.0/24` lines: number → text.
    static func parse(_ output: String) -> [Int: String] {
        var texts: [Int: String] = [:]
        for line in output.split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespaces)
            guard l.hasPrefix("["), let close = l.firstIndex(of: "]"),
                  let number = Int(l[l.index(after: l.startIndex)..<close].trimmingCharacters(in: .whitespaces)) else { continue }
            texts[number] = collapse(String(l[l.index(after: close)...]))
        }
        return texts
    }

    static func collapse(_ s: String) -> String {
        s.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
