/// A base chain's type (`type filter|nat|route hook …`), the three nf_tables knows: nat chains
/// see only a connection's first packet and never decide a path; route chains reroute.
public enum ChainType: String, Sendable {
    case filter, nat, route
}
