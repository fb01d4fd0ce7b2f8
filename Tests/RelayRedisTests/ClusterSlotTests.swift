// ClusterSlotTests: the key slot function against the cluster specification's vectors, and the
// session key layout that cluster mode relies on (one slot per session).
import XCTest
@testable import RelayRedis
@testable import RelayStorage

final class ClusterSlotTests: XCTestCase {
    func testSpecificationVectors() {
        XCTAssertEqual(ClusterSlot.crc16(Array("123456789".utf8)[...]), 0x31C3)
        XCTAssertEqual(ClusterSlot.of("123456789"), 12739)
        XCTAssertEqual(ClusterSlot.of("{user1000}.following"), ClusterSlot.of("{user1000}.followers"))
        XCTAssertEqual(ClusterSlot.of("foo{}{bar}"), Int(ClusterSlot.crc16(Array("foo{}{bar}".utf8)[...]) % 16384),
                       "an empty first tag hashes the whole key")
        XCTAssertNotEqual(ClusterSlot.of("foo{}{bar}"), ClusterSlot.of("bar"))
        XCTAssertEqual(ClusterSlot.of("foo{{bar}}zap"), ClusterSlot.of("{bar"), "the tag runs to the first }")
        XCTAssertEqual(ClusterSlot.of("foo{bar}{zap}"), ClusterSlot.of("bar"), "only the first tag counts")
        XCTAssertTrue((0..<ClusterSlot.count).contains(ClusterSlot.of("")))
    }

    /// Every key of a session is tagged {s:<id>}: its row, both channels (and their pub/sub
    /// channels, which share the stream names) and its dedup keys land in one slot.
    func testASessionsKeysShareOneSlot() {
        let keys = RedisKeys(prefix: "relay:")
        let session = "session_7fdg3fueyajztjqc0ruarfc6d"
        let slot = ClusterSlot.of(keys.sessionMeta(session))
        XCTAssertEqual(ClusterSlot.of(keys.channel(session: session, io: .input)), slot)
        XCTAssertEqual(ClusterSlot.of(keys.channel(session: session, io: .output)), slot)
        XCTAssertEqual(ClusterSlot.of("relay:{s:\(session)}:part:in:p-1"), slot)
        XCTAssertEqual(ClusterSlot.of("{s:\(session)}"), ClusterSlot.of("s:\(session)"))
    }
}
