/// What a rule does when it matches, in either syntax: the one verdict type of the rule model,
/// used by explain's predictor, the hints and both rule evaluators (follow takes its verdicts
/// from the kernel's events: StepVerdict).
public enum RuleVerdict: Equatable, Sendable {
    /// The packet goes on to the next rule (a counter, LOG, MARK, CT, ...).
    case `continue`
    case accept, drop, reject, `return`, queue
    case jump(String), goto(String)
    /// dnat, and redirect (address nil). A nil port leaves the port as it was.
    case dnat(address: IPAddress?, port: UInt16?)
    /// snat / masquerade: ends the nat chain, accept.
    case snat
}
