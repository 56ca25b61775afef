import XCTest
@testable import FWTraceCore

/// The metrics listener's request parsing: what Prometheus sends, and what else may arrive.
final class HTTPRequestHeadTests: XCTestCase {
    func head(_ text: String) -> HTTPRequestHead? { HTTPRequestHead(Array(text.utf8)) }

    func testPrometheusScrapeIsTheMetricsRoute() {
        // Prometheus 2.42's scrape request, as it sends it (its User-Agent and Accept).
        let scrape = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9469\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 1\r\n\r\n"
        XCTAssertEqual(HTTPRequestHead.end(of: Array(scrape.utf8)), scrape.utf8.count)
        XCTAssertEqual(head(scrape)?.route, .metrics(headOnly: false))
    }

    func testRoutes() {
        XCTAssertEqual(head("GET / HTTP/1.0\r\n\r\n")?.route, .metrics(headOnly: false))
        XCTAssertEqual(head("HEAD /metrics HTTP/1.1\r\n\r\n")?.route, .metrics(headOnly: true))
        XCTAssertEqual(head("GET /metrics?name[]=x HTTP/1.1\r\n\r\n")?.route, .metrics(headOnly: false))
        XCTAssertEqual(head("GET /other HTTP/1.1\r\n\r\n")?.route, .notFound)
        XCTAssertEqual(head("POST /metrics HTTP/1.1\r\n\r\n")?.route, .methodNotAllowed)
    }

    func testWhatIsNotAnHTTP1Request() {
        XCTAssertNil(head("GET /metrics HTTP/2\r\n\r\n"))
        XCTAssertNil(head("GET metrics HTTP/1.1\r\n\r\n"))
        XCTAssertNil(head(" /metrics HTTP/1.1\r\n\r\n"))
        XCTAssertNil(head("GET"))
        XCTAssertNil(HTTPRequestHead([0x16, 0x03, 0x01, 0x02, 0x00]))   // a TLS ClientHello
        XCTAssertNil(HTTPRequestHead.end(of: Array("GET / HTTP/1.1\r\n".utf8)), "the head has not ended")
    }
}
