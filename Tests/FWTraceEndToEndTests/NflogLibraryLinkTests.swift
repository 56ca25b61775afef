import Foundation
import XCTest

/// The legacy backend's receiver and decoder are libnetfilter_log's: the binary calls the
/// library's functions (its undefined dynamic symbols name them) and has no parser of its own.
final class NflogLibraryLinkTests: XCTestCase {
    /// What the legacy backend calls: configuration, dispatch, the accessors and the library's
    /// validating parser.
    static let used = [
        "nflog_open", "nflog_close", "nflog_fd", "nflog_bind_group", "nflog_unbind_group",
        "nflog_bind_pf", "nflog_unbind_pf", "nflog_set_mode", "nflog_set_qthresh", "nflog_set_flags",
        "nflog_callback_register", "nflog_handle_packet", "nflog_nlmsg_parse",
        "nflog_get_msg_packet_hdr", "nflog_get_nfmark", "nflog_get_timestamp", "nflog_get_indev",
        "nflog_get_outdev", "nflog_get_physindev", "nflog_get_physoutdev", "nflog_get_payload",
        "nflog_get_prefix",
    ]

    func testTheBinaryCallsLibnetfilterLog() throws {
        let nm = try E2E.run(["nm", "-D", "--undefined-only", E2E.binary])
        let symbols = Set(nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let nflog = symbols.filter { $0.hasPrefix("nflog_") }
        for name in Self.used { XCTAssertTrue(nflog.contains(name), "\(name) is not among the binary's undefined symbols: \(nflog.sorted())") }
        // Linked, not loaded at run time: the dynamic section names the library.
        let dynamic = try E2E.run(["readelf", "-d", E2E.binary])
        XCTAssertTrue(dynamic.stdout.contains("libnetfilter_log.so"), dynamic.stdout)
    }
}
