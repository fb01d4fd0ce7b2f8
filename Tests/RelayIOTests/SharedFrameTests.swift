// SharedFrame builds the HTTP/1.1 chunk around a payload itself (hex length, CRLF, payload, CRLF).
@testable import RelayIO
import XCTest

final class SharedFrameTests: XCTestCase {
    func testTheChunkHeaderIsTheHexLengthForEveryNumberOfDigits() {
        for length in [0, 1, 9, 10, 15, 16, 17, 255, 256, 4_095, 4_096, 65_535, 65_536, 1_048_577] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let frame = SharedFrame(payload)
            let expected = Array((String(length, radix: 16) + "\r\n").utf8) + payload + [0x0D, 0x0A]
            XCTAssertEqual(frame.chunkedBytes, expected, "length \(length)")
            XCTAssertEqual(frame.count, length)
            XCTAssertEqual(frame.payloadOffset, String(length, radix: 16).utf8.count + 2)
            XCTAssertEqual(frame.chunkedCount, expected.count)
        }
    }
}
