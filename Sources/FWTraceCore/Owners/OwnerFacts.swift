/// What the recognisers see of a ruleset: its chains and their rules as text, whichever model
/// (nft catalog or iptables-legacy save) they came from. Built once per load by OwnerMap's
/// adapters (OwnerMap+Catalog.swift); nothing here is used per event.
public struct OwnerFacts: Sendable {
    public struct Chain: Sendable {
        public var family: TableFamily
        public var table: String
        public var name: String
        /// Base chains: the hook (their policy is a step of its own).
        public var isBaseChain: Bool
        public var policy: String?
        public var rules: [Rule]
        public init(family: TableFamily, table: String, name: String, isBaseChain: Bool = false, policy: String? = nil, rules: [Rule] = []) {
            self.family = family; self.table = table; self.name = name
            self.isBaseChain = isBaseChain; self.policy = policy; self.rules = rules
        }
        /// IPv6 rules: an ip6 table, or (inet) not said here.
        public var isIPv6: Bool { family == .ip6 }
    }

    public struct Rule: Sendable {
        /// 1-based position in its chain.
        public var position: Int
        /// iptables-save syntax (`-A CHAIN …`) or nft syntax.
        public var text: String
        public let words: [String]
        public let isIptables: Bool
        public init(position: Int, text: String) {
            self.position = position; self.text = text
            isIptables = text.hasPrefix("-A ")
            words = isIptables ? Ruleset.splitArguments(text) : RuleWords.nftWords(text)
        }
        /// The chain jumped or gone to (`-j X` / `-g X` / `jump X` / `goto X`), else the target
        /// extension or verdict (`-j DNAT`, `accept`).
        public var target: String? {
            if isIptables { return value(after: "-j") ?? value(after: "-g") }
            return value(after: "jump") ?? value(after: "goto")
        }
        /// The rule's comment (`-m comment --comment X` or `comment "X"`).
        public var comment: String? { value(after: isIptables ? "--comment" : "comment") }
        /// The word after the last `key`.
        public func value(after key: String) -> String? {
            guard let i = words.lastIndex(of: key), i + 1 < words.count else { return nil }
            return words[i + 1]
        }
        public func has(_ word: String) -> Bool { words.contains(word) }
        /// The destination port and protocol it matches ("8080", "tcp"): `-p tcp … --dport 8080`
        /// or `tcp dport 8080` (a range as the rule writes it).
        public var port: (port: String, proto: String)? {
            if isIptables {
                guard let p = value(after: "--dport") ?? value(after: "--destination-port"), let proto = value(after: "-p") else { return nil }
                return (p, proto)
            }
            for proto in ["tcp", "udp", "sctp", "dccp"] {
                if let i = words.firstIndex(of: proto), i + 2 < words.count, words[i + 1] == "dport" { return (words[i + 2], proto) }
            }
            return nil
        }
        /// Where a DNAT sends the packet (`--to-destination A:P`, `dnat ip to A:P`).
        public var dnatDestination: String? {
            isIptables ? value(after: "--to-destination") : (has("dnat") ? value(after: "to") : nil)
        }
    }

    public var chains: [Chain]
    public init(chains: [Chain]) { self.chains = chains }

    public func chain(_ family: TableFamily, _ table: String, _ name: String) -> Chain? {
        chains.first { $0.family == family && $0.table == table && $0.name == name }
    }
    public func hasChain(where predicate: (Chain) -> Bool) -> Bool { chains.contains(where: predicate) }
}

enum RuleWords {
    /// nft rule text split into words, a double-quoted string as one word without its quotes.
    static func nftWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        for ch in text {
            if ch == "\"" { quoted.toggle(); continue }
            if ch == " " && !quoted {
                if !current.isEmpty { words.append(current); current = "" }
                continue
            }
            current.append(ch)
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
