/// `shadowed-rule` and `policy` in the owner's language, and `shadowed-deny`, their reverse
/// (an allow that comes before the admin's deny), for ufw's numbered rules.
extension HintEngine {
    typealias ChainRule = (position: Int, text: String, isIptables: Bool)

    static func shadowEvidence(_ step: PathStep, _ position: Int, _ text: String, _ later: ChainRule) -> [(String, String)] {
        [("chain", place(step)), ("deciding_rule", String(position)), ("deciding_text", text),
         ("shadowed_rule", String(later.position)), ("shadowed_text", later.text)]
    }

    /// An iptables rule `later` would accept the packet that rule `position` dropped.
    static func shadowedIptables(_ step: PathStep, position: Int, text: String, later: ChainRule, _ context: HintContext) -> Hint {
        let verb = step.rejects ? "rejects" : "drops"
        var evidence = shadowEvidence(step, position, text, later)
        let ufw = context.toolState.ufw
        if step.owner?.manager == .ufw, let d = ufw.tuple(chain: step.chain, position: position),
           let l = ufw.tuple(chain: step.chain, position: later.position), d.number < l.number {
            let insert = OwnerFix.ufwCommand(l, insert: d.number)
            evidence += [("owner", "ufw rule \(d.number)"), ("shadowed_owner", "ufw rule \(l.number)"), ("fix", "ufw delete \(l.number); \(insert)")]
            return Hint(code: "shadowed-rule",
                        message: "ufw rule \(l.number) (`\(UfwStatusText.render(l))`) would allow this packet, but ufw rule \(d.number) (`\(UfwStatusText.render(d))`) \(verb) it first: ufw checks its rules in the order `ufw status numbered` shows, and a new rule goes last. Move the allow before it: `ufw delete \(l.number)`, then `\(insert)`",
                        evidence: evidence)
        }
        let spec = later.text.dropFirst(3).drop { $0 != " " }.trimmingCharacters(in: .whitespaces)
        let iptables = step.tableFamily == .ip6 ? "ip6tables" : "iptables"
        let command = "\(iptables)\(step.table == "filter" ? "" : " -t \(step.table)") -I \(step.chain) \(position) \(spec)"
        if let owner = step.owner { evidence.append(("owner", owner.label)) }
        return Hint(code: "shadowed-rule",
                    message: "rule \(later.position) of \(place(step)) (`\(later.text)`) would accept this packet, but rule \(position) (`\(text)`) \(verb) it first: rules are checked in order, and -A appends after the catch-all. Put the ACCEPT before it: \(OwnerFix.raw(command, managedBy: step.owner?.manager)) (and delete rule \(later.position + 1) afterwards)",
                    evidence: evidence)
    }

    /// The same for a native nft chain: firewalld's zones take a port; elsewhere `nft insert`.
    static func shadowedNative(_ step: PathStep, position: Int, text: String, later: ChainRule, view: PacketView) -> Hint {
        let verb = step.rejects ? "rejects" : "drops"
        var evidence = shadowEvidence(step, position, text, later)
        if let owner = step.owner { evidence.append(("owner", owner.label)) }
        if step.owner?.manager == .firewalld, let zone = step.owner?.text("zone"), let port = OwnerFix.portSpec(view) {
            let (add, reload) = OwnerFix.firewalldAddPort(zone: zone, port: port)
            evidence.append(("fix", "\(add); \(reload)"))
            return Hint(code: "shadowed-rule",
                        message: "rule \(later.position) of \(place(step)) (`\(later.text)`) would accept this packet, but rule \(position) (`\(text)`) \(verb) it first. firewalld orders zone \(zone)'s rules itself: open the port in the zone instead, `\(add)`, then `\(reload)`",
                        evidence: evidence)
        }
        let handle = step.handle.map { " position \($0)" } ?? ""
        let command = "nft insert rule \(step.tableFamily.rawValue) \(step.table) \(step.chain)\(handle) \(later.text)"
        return Hint(code: "shadowed-rule",
                    message: "rule \(later.position) of \(place(step)) (`\(later.text)`) would accept this packet, but rule \(position) (`\(text)`) \(verb) it first: rules are checked in order. Put the accepting rule before it: \(OwnerFix.raw(command, managedBy: step.owner?.manager))",
                    evidence: evidence)
    }

    /// What the policy hint says after "dropped the packet" when a tool set the policy.
    static func policyAdvice(_ path: PacketPath, _ index: Int) -> (text: String, evidence: [(String, String)])? {
        let d = path.steps[index]
        guard d.verdict == .drop, let owner = d.owner, owner.manager == .ufw, let policy = owner.text("default"),
              let fix = OwnerFix.ufwAllow(PacketView(path: path, beforeStep: index), hook: d.hook) else { return nil }
        let way = d.hook == .forward ? "through" : d.hook == .output ? "out" : "in"
        return (" by ufw's default policy (`\(policy)`, `ufw status verbose`). To let it \(way), add a ufw rule: `\(fix)`",
                [("owner", owner.label), ("fix", fix)])
    }

    /// An earlier ufw rule accepted the packet that a later ufw rule of the admin's denies.
    static func shadowedDeny(_ path: PacketPath, _ context: HintContext) -> Hint? {
        guard path.verdict == .accept, let index = path.decidedBy else { return nil }
        let step = path.steps[index]
        guard step.kind == .rule, step.owner?.manager == .ufw, let position = step.rule, let text = step.text,
              let d = context.toolState.ufw.tuple(chain: step.chain, position: position) else { return nil }
        var view: PacketView?
        for later in context.rules(step.tableFamily, step.table, step.chain) where later.position > position && later.isIptables {
            guard let l = context.toolState.ufw.tuple(chain: step.chain, position: later.position), l.number > d.number,
                  l.action == "deny" || l.action == "reject",
                  ["DROP", "REJECT"].contains(IptablesRuleEvaluator.target(later.text) ?? "") else { continue }
            if view == nil { view = PacketView(path: path, beforeStep: index) }
            guard IptablesRuleEvaluator.evaluate(later.text, against: view!) == .matches else { continue }
            let insert = OwnerFix.ufwCommand(l, insert: d.number)
            return Hint(code: "shadowed-deny",
                        message: "ufw rule \(l.number) (`\(UfwStatusText.render(l))`) would \(l.action) this packet, but ufw rule \(d.number) (`\(UfwStatusText.render(d))`) allows it first: ufw checks its rules in the order `ufw status numbered` shows, and a new rule goes last. Move the \(l.action) before it: `ufw delete \(l.number)`, then `\(insert)`",
                        evidence: [("chain", place(step)), ("deciding_rule", String(position)), ("deciding_text", text),
                                   ("shadowed_rule", String(later.position)), ("shadowed_text", later.text),
                                   ("owner", "ufw rule \(d.number)"), ("shadowed_owner", "ufw rule \(l.number)"),
                                   ("fix", "ufw delete \(l.number); \(insert)")])
        }
        return nil
    }
}

extension HintEngine {
    /// helper-missing's fix: firewalld's service of that name brings its helper; elsewhere the
    /// raw table's CT rule (a chain no manager of issue 14 writes).
    /// The fix of helper-missing: firewalld's service for the helper where firewalld decided (also
    /// as evidence `fix`), else the raw CT rule, with the overwrite warning when a manager owns the
    /// deciding rule (its reload rewrites the raw table too: Shorewall's, or ufw's before.rules).
    static func helperFix(_ d: PathStep, _ helper: String, _ control: ControlConnection) -> (text: String, fix: String?) {
        if d.owner?.manager == .firewalld, let zone = d.owner?.text("zone"), ["ftp", "tftp", "sip"].contains(helper) {
            let fix = "firewall-cmd --zone \(zone) --add-service \(helper) --permanent; firewall-cmd --reload"
            return ("firewalld's \(helper) service attaches it: \(fix)", fix)
        }
        let command = "modprobe nf_conntrack_\(helper); iptables -t raw -A PREROUTING -p \(control.protocolName) --dport \(control.port) -j CT --helper \(helper)"
        return ("Attach the helper to the control connection: " + OwnerFix.raw(command, managedBy: d.owner?.manager), nil)
    }
}
