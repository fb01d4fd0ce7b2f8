// Found by Fuzz/fuzz_http: the Host check compared Characters, so a space, tab, '/' or '@'
// followed by a combining mark (U+0301, one grapheme with it) passed the "Malformed Host" rule:
// "Host: Authorization: \u{301}" was accepted.
import XCTest
@testable import RelayWire

final class HostCheckBeforeCombiningMarkTests: XCTestCase {
    private func status(_ host: String) -> Int? {
        do {
            _ = try HTTPRequestHead.parse(Array("GET / HTTP/1.1\r\nHost: \(host)\r\n".utf8))
            return nil
        } catch let e as HTTPHeadError {
            return e.status
        } catch {
            return -1
        }
    }

    func testSeparatorFollowedByCombiningMarkIsRefused() {
        XCTAssertEqual(status("Authorization: \u{301}"), 400)
        XCTAssertEqual(status("a/\u{301}b"), 400)
        XCTAssertEqual(status("user@\u{301}host"), 400)
        XCTAssertEqual(status("a\t\u{301}b"), 400)
    }

    func testOrdinaryHostsAreAccepted() {
        XCTAssertNil(status("relay.example.com:8080"))
        XCTAssertNil(status("[::1]:80"))
    }
}
