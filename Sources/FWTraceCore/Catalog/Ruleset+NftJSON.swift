/// The parser of libnftables' JSON listings (`nft -j list ruleset`, or the pieces RulesetReader
/// reads on releases that cannot print a one-flag table): chains, rules with their expressions,
/// and the elements of named sets and maps.
extension Ruleset {
    public static func parse(nftJSON json: String) throws -> Ruleset {
        Ruleset(nftJSON: [try NftListing(json: json)])
    }

    /// The ruleset from several listings read in turn (`list chain …` for each chain, `list set …`
    /// for each set), their objects taken in order as if they were one `list ruleset`.
    public init(nftJSON listings: [NftListing]) {
        self.init()
        addNftJSON(listings)
    }

    /// Adds what JSON listings say. Where the text listing was read, it is the one that says which
    /// chains and rules exist (the two are read one after the other: a rule added in between is
    /// known to neither follow nor the hints until the next reload), and the JSON adds the rules'
    /// expressions; else the JSON makes the chains and rules. Table objects are not read: the
    /// table-less read has none, and both reads must make the same ruleset.
    public mutating func addNftJSON(_ listings: [NftListing]) {
        // Where each handle's rule lies in its chain, to add expressions to the text listing's rules.
        let located = sources.contains(.nftText) ? ruleIndexesByHandle() : nil
        sources.insert(.nftJSON)
        for listing in listings {
            for (kind, body) in listing.items {
                switch kind {
                case "chain": if located == nil { addJSONChain(body) }
                case "rule": addJSONRule(body, into: located)
                case "set", "map":
                    guard let (family, table, name) = Self.names(body, nameKey: "name") else { continue }
                    sets[SetKey(family: family, table: table, name: name)] = body["elem"]?.array ?? []
                default: continue   // table, flowtable, counter, quota, ct helper, ...
                }
            }
        }
        index()
    }

    func ruleIndexesByHandle() -> [RuleKey: Int] {
        var located: [RuleKey: Int] = [:]
        for (key, chain) in chains {
            for (i, rule) in chain.rules.enumerated() {
                if let handle = rule.handle { located[RuleKey(family: key.family, table: key.table, handle: handle)] = i }
            }
        }
        return located
    }

    static func names(_ body: NftJSON, nameKey: String) -> (TableFamily, String, String)? {
        guard let family = body["family"]?.string, let table = body["table"]?.string,
              let name = body[nameKey]?.string else { return nil }
        return (TableFamily(keyword: family), table, name)
    }

    static func handle(_ body: NftJSON) -> UInt64? {
        body["handle"]?.number.flatMap { $0 >= 0 ? UInt64(exactly: $0) : nil }
    }

    mutating func addJSONChain(_ body: NftJSON) {
        guard let (family, table, name) = Self.names(body, nameKey: "name") else { return }
        var priority: Int?
        switch body["prio"] {
        case .number?: priority = body["prio"]?.int
        case .string(let s)?: priority = Self.parsePriority(s)
        default: priority = nil
        }
        addChain(Chain(key: ChainKey(family: family, table: table, chain: name),
                       hook: body["hook"]?.string.map { Hook(rawValue: $0) ?? .unknown }, priority: priority,
                       type: body["type"]?.string.flatMap(ChainType.init(rawValue:)),
                       policy: body["policy"]?.string.map { ChainPolicy(word: $0) }, handle: Self.handle(body)))
    }

    /// A rule object: its expressions go to the text listing's rule of the same handle when
    /// `located` is given (a rule the text lacks is left out), else it is appended to its chain.
    mutating func addJSONRule(_ body: NftJSON, into located: [RuleKey: Int]?) {
        guard let (family, table, name) = Self.names(body, nameKey: "chain") else { return }
        let key = ChainKey(family: family, table: table, chain: name)
        let handle = Self.handle(body)
        let expressions = body["expr"]?.array ?? []
        if let located {
            // The handle is the table's: it must lie in this chain too.
            guard let handle, let i = located[RuleKey(family: family, table: table, handle: handle)],
                  let rules = chains[key]?.rules, i < rules.count, rules[i].handle == handle else { return }
            chains[key]!.rules[i].expressions = expressions
            return
        }
        if chains[key] == nil { addChain(Chain(key: key)) }
        var rule = Rule(handle: handle, chain: name, position: chains[key]!.rules.count + 1, text: nil, syntax: .nft)
        rule.expressions = expressions
        chains[key]!.rules.append(rule)
    }

    /// Takes the JSON expressions and set elements of an older ruleset, for the rules of the same
    /// chain and handle: a reload of the text listing alone (a stale stop, which must be quick)
    /// keeps what the JSON said until the JSON is read again.
    public mutating func keepExpressions(from older: Ruleset) {
        guard older.sources.contains(.nftJSON) else { return }
        sources.insert(.nftJSON)
        sets = older.sets
        for (key, chain) in chains {
            for (i, rule) in chain.rules.enumerated() {
                guard let handle = rule.handle,
                      let old = older.rule(family: key.family, table: key.table, handle: handle), old.chain == key.chain else { continue }
                chains[key]!.rules[i].expressions = old.expressions
            }
        }
        index()
    }
}
