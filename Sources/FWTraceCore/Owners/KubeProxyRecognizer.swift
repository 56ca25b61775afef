/// kube-proxy (Kubernetes 1.2x–1.3x). iptables mode (pkg/proxy/iptables/proxier.go): chains
/// `KUBE-*` (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-SVC-<hash>, KUBE-SEP-<hash>, KUBE-EXT-/FW-/XLB-,
/// KUBE-MARK-MASQ, KUBE-POSTROUTING, KUBE-FORWARD, KUBE-FIREWALL, …); each service rule's
/// comment is the service port's name `namespace/name:port` followed by what the rule is
/// (`"… cluster IP"`, `"… external IP"`, `"… loadbalancer IP"`, `"… has no endpoints"`,
/// `"… -> 10.244.0.5:8080"` for an endpoint of KUBE-SVC-*), and a KUBE-SEP-* rule's comment is
/// the bare name, its DNAT the endpoint. nftables mode (pkg/proxy/nftables/proxier.go):
/// `table ip kube-proxy` / `ip6 kube-proxy`, chains `service-<hash>-<ns>/<name>/<proto>/<port>`
/// and `endpoint-<hash>-<ns>/<name>/<proto>/<port>__<ip>/<port>`.
struct KubeProxyRecognizer: OwnerRecognizer {
    /// A per-service chain (KUBE-SVC-*, KUBE-EXT-*, KUBE-SEP-*, …) → the service its comments
    /// name, and a KUBE-SEP-* chain's endpoint (its DNAT).
    let chainServices: [String: (service: String, endpoint: String?)]

    init?(facts: OwnerFacts, state: ToolState) {
        guard facts.hasChain(where: { Self.isKubeChain($0) }) else { return nil }
        var services: [String: (String, String?)] = [:]
        for chain in facts.chains where Self.perServicePrefixes.contains(where: { chain.name.hasPrefix($0) }) {
            let named = chain.rules.lazy.compactMap { $0.comment.flatMap(Self.parse(comment:))?.service ?? $0.comment.flatMap(Self.masqueradeService) }.first
            guard let named else { continue }
            let endpoint = chain.name.hasPrefix("KUBE-SEP-") ? chain.rules.lazy.compactMap(\.dnatDestination).first : nil
            services[chain.name] = (named, endpoint)
        }
        chainServices = services
    }

    static let perServicePrefixes = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-XLB-", "KUBE-SEP-"]

    /// "masquerade traffic for default/web:http external destinations" (KUBE-EXT-*).
    static func masqueradeService(_ comment: String) -> String? {
        guard comment.hasPrefix("masquerade traffic for "), let end = comment.range(of: " external destinations") else { return nil }
        return String(comment[comment.index(comment.startIndex, offsetBy: 23)..<end.lowerBound])
    }

    static func isKubeChain(_ chain: OwnerFacts.Chain) -> Bool {
        chain.name.hasPrefix("KUBE-") || chain.table == "kube-proxy"
    }

    static let roles = [" cluster IP", " external IP", " loadbalancer IP", " has no endpoints", " health check node port"]

    /// The service and endpoint a comment names.
    static func parse(comment: String) -> (service: String, element: String?, endpoint: String?)? {
        if let arrow = comment.range(of: " -> ") {
            return (String(comment[..<arrow.lowerBound]), nil, String(comment[arrow.upperBound...]))
        }
        for role in roles where comment.hasSuffix(role) {
            return (String(comment.dropLast(role.count)), String(role.dropFirst()), nil)
        }
        // A bare `ns/name:port` (KUBE-SEP-*, KUBE-NODEPORTS); other comments are not services.
        guard comment.contains("/"), !comment.contains(" ") else { return nil }
        return (comment, nil, nil)
    }

    /// `service-ULMVA6XW-ns1/svc1/tcp/p80` → "ns1/svc1:p80"; `endpoint-…__10.180.0.1/80` adds the endpoint.
    static func parse(nftChain name: String) -> (service: String, endpoint: String?)? {
        guard name.hasPrefix("service-") || name.hasPrefix("endpoint-") || name.hasPrefix("external-") else { return nil }
        let afterHash = name.drop { $0 != "-" }.dropFirst().drop { $0 != "-" }.dropFirst()
        var body = String(afterHash), endpoint: String?
        if let sep = body.range(of: "__") {
            endpoint = body[sep.upperBound...].replacingOccurrences(of: "/", with: ":")
            body = String(body[..<sep.lowerBound])
        }
        let parts = body.split(separator: "/").map(String.init)
        guard parts.count == 4 else { return nil }
        return ("\(parts[0])/\(parts[1]):\(parts[3])", endpoint)
    }

    static func owner(service: String, element: String? = nil, endpoint: String? = nil) -> RuleOwner {
        var fields: [(String, RuleOwner.Value)] = [("service", .text(service))]
        var label = "kube-proxy service \(service)"
        if let element { fields.append(("element", .text(element))); label += " (\(element))" }
        if let endpoint { fields.append(("endpoint", .text(endpoint))); label += " → \(endpoint)" }
        return RuleOwner(.kubeProxy, fields, label: label)
    }

    func owner(ofChain chain: OwnerFacts.Chain) -> RuleOwner? {
        guard Self.isKubeChain(chain) else { return nil }
        if let (service, endpoint) = Self.parse(nftChain: chain.name) ?? chainServices[chain.name] {
            return Self.owner(service: service, endpoint: endpoint)
        }
        return RuleOwner(.kubeProxy, label: "kube-proxy")
    }

    func owner(of rule: OwnerFacts.Rule, in chain: OwnerFacts.Chain) -> RuleOwner? {
        if !Self.isKubeChain(chain) {
            guard let target = rule.target, target.hasPrefix("KUBE-") else { return nil }
            return RuleOwner(.kubeProxy, label: "kube-proxy")
        }
        guard let comment = rule.comment, let (service, element, endpoint) = Self.parse(comment: comment) else { return nil }
        let to = endpoint ?? rule.dnatDestination
        return Self.owner(service: service, element: element, endpoint: to)
    }
}
