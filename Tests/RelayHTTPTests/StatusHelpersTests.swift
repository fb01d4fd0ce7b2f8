// StatusHelpersTests: the pure parts of the status page's server side: number formatting in
// heartbeats, SSE framing of a snapshot, the Bearer parsing and the token comparison.
import RelayCore
@testable import RelayHTTP
import XCTest

final class StatusHelpersTests: XCTestCase {
    func testDecimalsAreShortNonNegativeJSONNumbers() {
        XCTAssertEqual(StatusBoard.decimal(0), "0")
        XCTAssertEqual(StatusBoard.decimal(-3), "0")
        XCTAssertEqual(StatusBoard.decimal(.nan), "0")
        XCTAssertEqual(StatusBoard.decimal(.infinity), "0")
        XCTAssertEqual(StatusBoard.decimal(12), "12")
        XCTAssertEqual(StatusBoard.decimal(1.5), "1.5")
        XCTAssertEqual(StatusBoard.decimal(0.004), "0")
        XCTAssertEqual(StatusBoard.decimal(0.005), "0.01")
        XCTAssertEqual(StatusBoard.decimal(0.1234, places: 3), "0.123")
        XCTAssertEqual(StatusBoard.decimal(2.05, places: 3), "2.05")
        for value in [0.001, 0.3, 7.25, 123.456, 1e9] {
            XCTAssertNoThrow(try JSONParser.parse(StatusBoard.decimal(value, places: 3)), "\(value)")
        }
    }

    func testAnEventKeepsItsFramingWhateverTheBodyHolds() {
        XCTAssertEqual(String(decoding: StatusBoard.event(Array(#"{"a":1}"#.utf8)), as: UTF8.self), "data: {\"a\":1}\n\n")
        XCTAssertEqual(String(decoding: StatusBoard.event(Array("{\n\"a\":\r\n1}".utf8)), as: UTF8.self),
                       "data: {\ndata: \"a\":\ndata: \ndata: 1}\n\n")
    }

    func testTokenComparison() {
        XCTAssertTrue(RelayServer.constantTimeEqual("status-token-0123456789", "status-token-0123456789"))
        XCTAssertFalse(RelayServer.constantTimeEqual("status-token-0123456789", "status-token-0123456780"))
        XCTAssertFalse(RelayServer.constantTimeEqual("status-token", "status-token-0123456789"))
        XCTAssertFalse(RelayServer.constantTimeEqual("", "x"))
    }
}
