// The outbox's place in the key layout: a slot's outbox key is in that slot, and an entry names
// exactly the index keys its state needs (pure logic, no Redis).
import XCTest
@testable import RelayRedis
@testable import RelayStorage

final class OutboxLayoutTests: XCTestCase {
    func testEveryOutboxTagHashesToItsOwnSlot() {
        for slot in 0..<ClusterSlot.count {
            XCTAssertEqual(ClusterSlot.of("relay:{\(ClusterSlot.outboxTag(slot))}:outbox"), slot)
        }
    }

    func testASessionsOutboxSharesTheSessionsSlot() {
        let keys = RedisKeys(prefix: "relay:")
        for session in ["session_abc", "session_k3j4h5g6f7d8s9a0p1o2i3u4y", "session_"] {
            XCTAssertEqual(ClusterSlot.of(keys.outbox(session: session)), ClusterSlot.of(keys.sessionMeta(session)))
        }
    }

    func testAnEntryNamesTheIndexesOfItsState() throws {
        let entry = try XCTUnwrap(OutboxEntry(#"{"env":"env_a","ix":{"sid":"session_x","v":2,"type":"chat","task":"t","tags":["a","b"]},"run":{"id":"run_1"},"at":5}"#))
        XCTAssertEqual(entry.environment, "env_a")
        XCTAssertEqual(entry.runId, "run_1")
        XCTAssertEqual(entry.indexes, [.type("chat"), .task("t"), .tag("a"), .tag("b")])
        XCTAssertEqual(entry.indexes.map(\.name), ["idx:type:chat", "idx:task:t", "idx:tag:a", "idx:tag:b"])
    }

    func testAnEmptyTagListWrittenAsAnObjectByLuaNamesNoTagIndex() throws {
        let entry = try XCTUnwrap(OutboxEntry(#"{"env":"env_a","ix":{"type":"chat","task":"t","tags":{}},"run":false}"#))
        XCTAssertNil(entry.runId)
        XCTAssertEqual(entry.indexes, [.type("chat"), .task("t")])
    }

    func testAnEntryWithoutAnEnvironmentIsRefused() {
        XCTAssertNil(OutboxEntry(#"{"ix":false,"run":false}"#))
        XCTAssertNil(OutboxEntry("not json"))
    }
}

final class RedisVersionTests: XCTestCase {
    func testTheMajorVersionIsReadFromInfoServer() {
        XCTAssertEqual(RedisVersion.major(inInfo: "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\n"), 7)
        XCTAssertEqual(RedisVersion.major(inInfo: "redis_version:6.2.14\n"), 6)
        XCTAssertNil(RedisVersion.major(inInfo: "# Server\r\nredis_mode:standalone\r\n"))
    }
}
