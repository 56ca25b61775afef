/// Who wrote a rule: the manager (ufw, firewalld, …) and the tool's own name for the rule.
///
/// Made once per rule and chain when the rules are loaded (OwnerMap) and shared by reference by
/// every step that meets the rule: a step carries one pointer, never copies of these strings.
/// Its JSON and its text-view label are made once, here, too.
public final class RuleOwner: Sendable, Equatable, CustomStringConvertible {
    public enum Manager: String, Sendable, CaseIterable {
        case ufw, firewalld, docker, podman, kubeProxy = "kube-proxy", fail2ban, libvirt, shorewall
    }

    /// One identity field: a JSON key (docs/output.md, `owner`) and its value.
    public enum Value: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
        case text(String)
        case number(Int)
        public init(stringLiteral value: String) { self = .text(value) }
        public init(integerLiteral value: Int) { self = .number(value) }
        public var description: String {
            switch self { case .text(let s): return s; case .number(let n): return String(n) }
        }
    }

    public let manager: Manager
    /// The tool's identity of the rule, in output order (keys: docs/output.md).
    public let fields: [(key: String, value: Value)]
    /// A few words for the text view: "ufw rule 2", "firewalld zone public: service ssh".
    public let label: String
    /// `{"manager":…,…}`, written as it is into every step that has this owner.
    let json: [UInt8]

    public init(_ manager: Manager, _ fields: [(String, Value)] = [], label: String? = nil) {
        self.manager = manager
        self.fields = fields.map { (key: $0.0, value: $0.1) }
        self.label = label ?? ([manager.rawValue] + fields.map { $0.1.description }).joined(separator: " ")
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.string("manager", manager.rawValue)
        for (key, value) in fields {
            switch value {
            case .text(let s): w.string(key, s)
            case .number(let n): w.int(key, n)
            }
        }
        w.endObject()
        json = w.bytes
    }

    /// The value of one identity field, nil when the owner has none.
    public subscript(key: String) -> Value? { fields.first { $0.key == key }?.value }

    /// The field as text (a number as its digits).
    public func text(_ key: String) -> String? { self[key]?.description }

    public var jsonText: String { String(decoding: json, as: UTF8.self) }
    public var description: String { jsonText }

    public static func == (a: RuleOwner, b: RuleOwner) -> Bool { a === b || a.json == b.json }
}
