/// The steps of a path, its fate, and its end: the second half of PathAssembler.
extension PathAssembler {

    /// `entry` is the event's chain as the ruleset has it and `rule` the rule of its handle (both
    /// looked up once per event by the caller). Appends the event's step to the pending path;
    /// false when the event makes no step.
    func appendStep(_ event: NftTraceEvent, state: Pending, entry: ChainEntry, rule: StepRule?) -> Bool {
        let isBaseChain = entry.isBaseChain ?? (state.baseChain?.chain == event.chain && state.baseChain?.table == event.table)
        var verdict = event.stepVerdict
        let kind: PathStep.Kind
        switch event.kind {
        case .policy:
            kind = .policy
        case .return:
            kind = .return
            if verdict == .continue || verdict == .unknown { verdict = .return }
        case .rule where event.ruleHandle == nil:
            // Linux >= 6.7 reports the implicit end of a chain as a handle-less rule event with
            // verdict continue. In a base chain the policy event follows and says it all.
            if isBaseChain { return false }
            kind = .return
            verdict = .return
        case .rule:
            switch verdict {
            case .jump: kind = .jump
            case .goto: kind = .goto
            case .return: kind = .return
            default: kind = .rule
            }
        case .unknown:
            return false
        }
        state.path.steps.append(PathStep(hook: state.hook, table: event.table, tableFamily: event.tableFamily,
                                         chain: event.chain, kind: kind, verdict: verdict))
        let last = state.path.steps.count - 1
        state.path.steps[last].chainType = entry.type ?? state.baseType
        state.path.steps[last].target = event.jumpTarget
        state.path.steps[last].mark = event.mark ?? 0
        state.path.steps[last].owner = kind == .policy ? entry.policyOwner : entry.owner
        if let handle = event.ruleHandle {
            state.path.steps[last].handle = handle
            if let rule, rule.chain == event.chain {
                state.path.steps[last].rule = rule.position
                state.path.steps[last].text = rule.text
                state.path.steps[last].counters = rule.counters
                state.path.steps[last].rejects = rule.rejects
                state.path.steps[last].owner = rule.owner
            }
        }
        return true
    }

    /// The packet's fate when this step settles it, nil while it may still meet other chains.
    func fate(ofLastStepIn state: Pending) -> PacketVerdict? {
        let i = state.path.steps.count - 1
        switch state.path.steps[i].verdict {
        case .drop: return state.path.steps[i].rejects ? .reject : .drop
        case .queue: return .queue
        case .stolen: return .stolen
        case .accept:
            return moreChainsMayRun(after: state) ? nil : .accept
        default:
            return nil
        }
    }

    /// Stands in for a finished path in its Pending, which is always dropped from the table first.
    static let finishedPlaceholder = PacketPath(traceID: 0, family: .ip, time: 0,
                                                packet: PacketSummary(family: .ip, src: .v4(0), dst: .v4(0), protocolNumber: 0, length: 0, ttl: 0))

    func finish(_ state: Pending, incomplete: Bool, verdictKnown: Bool = false) -> PacketPath {
        // No step: accepted only when no base chain but ours could see the packet. Otherwise its
        // events were lost (or are late), and its fate was not seen. Asked before the path moves.
        let unseenButAccepted = !verdictKnown && state.path.steps.isEmpty && !moreChainsMayRun(after: state)
        // Moved out, not copied (a copy retained its steps, strings and conntrack names).
        var path = Self.finishedPlaceholder
        swap(&path, &state.path)
        path.incomplete = incomplete
        if !verdictKnown {
            if !path.steps.isEmpty, path.steps[path.steps.count - 1].verdict == .accept { path.verdict = .accept }
            else if unseenButAccepted { path.verdict = .accept }
            else { path.verdict = .unknown }
        }
        path.decidedBy = Self.decidingStep(path)
        return path
    }

    /// The step to blame or credit: the one that ended the path, or for an acceptance the last
    /// accepting step outside raw/mangle/nat chains (the filter decision the admin asks about).
    /// A NAT chain is one of `type nat` or one such a chain reached, in whatever table: it
    /// never decides.
    static func decidingStep(_ path: PacketPath) -> Int? {
        switch path.verdict {
        case .drop, .reject, .queue, .stolen:
            let wanted = path.verdict.stepVerdict
            return path.steps.indices.last { path.steps[$0].verdict == wanted }   // by index: no step copies
        case .accept:
            // From the end: the first filtering accept found, else the last accept of any kind.
            var lastAccept: Int?
            for i in path.steps.indices.reversed() where path.steps[i].verdict == .accept {
                if lastAccept == nil { lastAccept = i }
                let type = path.steps[i].chainType, table = path.steps[i].table
                if type != .nat && type != .route && table != "raw" && table != "mangle" && table != "nat" { return i }
            }
            return lastAccept
        case .unknown:
            return nil
        }
    }

    /// Fills what the path's conntrack summary lacks; the status is the latest seen. In place:
    /// building a summary and copying it back retained its strings and array on every header dump.
    func mergeConntrack(_ path: inout PacketPath, _ ct: NftTraceEvent.Conntrack) {
        if path.conntrack == nil { path.conntrack = ConntrackSummary(state: nil) }
        if path.conntrack!.id == nil { path.conntrack!.id = ct.id }
        if path.conntrack!.state == nil, let state = ct.state { path.conntrack!.state = ConntrackSummary.stateName(state) }
        if path.conntrack!.direction == nil, let d = ct.direction { path.conntrack!.direction = ConntrackSummary.directionName(d) }
        if let bits = ct.status {
            if let last = lastStatus, last.bits == bits {
                path.conntrack!.status = last.names
            } else {
                let names = ConntrackSummary.statusNames(bits)
                path.conntrack!.status = names
                lastStatus = (bits, names)
            }
        }
    }

    static func sameIdentity(_ a: PacketSummary, _ b: PacketSummary) -> Bool {
        guard a.family == b.family, a.length == b.length else { return false }
        if a.protocolKnown && b.protocolKnown && a.protocolNumber != b.protocolNumber { return false }
        if a.family == .ip { return a.ipID == b.ipID }
        return a.flowLabel == b.flowLabel
    }
}
