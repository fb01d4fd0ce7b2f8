// LiveRecordTests: the decoding of what the storage scripts publish (no I/O).
import XCTest
@testable import RelayRedis
@testable import RelayStorage

final class LiveRecordTests: XCTestCase {
    func decode(_ text: String) -> LiveRecord? { LiveRecord(payload: Array(text.utf8)) }

    func testEachKind() {
        XCTAssertEqual(decode("7 D\n{\"a\":1}"), .record(seq: 7, field: Array("{\"a\":1}".utf8)[...], isControl: false))
        XCTAssertEqual(decode("8 C\n[[\"k\",\"v\"]]"), .record(seq: 8, field: Array("[[\"k\",\"v\"]]".utf8)[...], isControl: true))
        XCTAssertEqual(decode("9 d\n{\"data\":1,\"id\":9}"), .recordJSON(seq: 9, json: Array("{\"data\":1,\"id\":9}".utf8)[...], isControl: false))
        XCTAssertEqual(decode("10 x\n"), .closed(lastSeq: 10))
        XCTAssertEqual(decode("1733000000000001 L\n12"), .lost(seq: 1_733_000_000_000_001, after: 12))
    }

    func testPrevious() {
        XCTAssertEqual(decode("7 D\n1")?.previous, 6)
        XCTAssertEqual(decode("100 L\n12")?.previous, 12, "a loss marker follows the last seq kept")
        XCTAssertEqual(decode("100 L\n12")?.seq, 100)
    }

    func testMalformedPayloadsAreIgnored() {
        for text in ["", "7", "7 D", "7 D1", "x D\n1", "-1 D\n1", "7 Z\n1", "100 L\n", "100 L\nabc", "100 L\n100", "100 L\n200", "0 D\n1"] {
            XCTAssertNil(decode(text), text)
        }
    }
}
