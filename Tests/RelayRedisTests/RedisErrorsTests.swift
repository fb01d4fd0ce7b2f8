// RedisErrorsTests: every kind of Redis trouble is answered one way, and none leaks Redis' text.
// The client's own failures used to be sentinel strings ("ERR not connected", "ERR command not
// sent") that fell through to a 500.
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class RedisErrorsTests: XCTestCase {
    func testClientFailuresAreServiceUnavailable() {
        for failure in [RedisFailure.notConnected, .notSent, .connectionLost, .timedOut] {
            let error = RedisReply.failure(failure).apiError
            XCTAssertEqual(error?.status, 503, "\(failure)")
            XCTAssertEqual(error?.message, RedisErrors.unavailable)
        }
        XCTAssertEqual(RedisReply.failure(.timedOut).redisError, .timedOut)
        XCTAssertEqual(RedisReply.failure(.notSent).redisError, .unavailable)
    }

    func testErrorRepliesByKind() {
        let oom = "OOM command not allowed when used memory > 'maxmemory'. script: 1a2b3c, on @user_script:137."
        XCTAssertEqual(RedisReply.error(oom).redisError, .transient(oom), "OOM is transient even inside a script")
        XCTAssertEqual(RedisReply.error("LOADING Redis is loading the dataset in memory").apiError?.status, 503)
        XCTAssertEqual(RedisReply.error("BUSY Redis is busy running a script").apiError?.status, 503)
        let script = "ERR user_script:12: attempt to compare nil with number script: 9f8e, on @user_script:12."
        XCTAssertEqual(RedisReply.error(script).redisError, .script(script))
        XCTAssertEqual(RedisReply.error(script).apiError?.status, 500)
        let wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
        XCTAssertEqual(RedisReply.error(wrongType).redisError, .server(wrongType))
        XCTAssertEqual(RedisReply.error(wrongType).apiError?.status, 500)
    }

    func testNoRedisTextReachesTheMessage() {
        for reply in [RedisReply.error("OOM command not allowed, script: abc"), .error("ERR user_script:1: boom"),
                      .error("WRONGTYPE x"), .failure(.timedOut)] {
            let message = reply.apiError?.message ?? ""
            for secret in ["OOM", "script", "user_script", "WRONGTYPE", "abc"] {
                XCTAssertFalse(message.contains(secret), "\(reply) -> \(message)")
            }
        }
    }

    func testNonErrorsAreNotErrors() {
        XCTAssertNil(RedisReply.status("OK").apiError)
        XCTAssertNil(RedisReply.null.apiError)
        XCTAssertNil(RedisReply.bulk(Array("x".utf8)).apiError)
    }
}

final class StoredRecordTests: XCTestCase {
    func testTurnCompleteIsTheFirstHeaderOfAControlRecord() {
        let turn = StoredRecord(seq: 1, data: nil, headers: Array(#"[["trigger-control","turn-complete"],["public-access-token","x"]]"#.utf8))
        XCTAssertTrue(turn.isTurnComplete)
        let other = StoredRecord(seq: 2, data: nil, headers: Array(#"[["trigger-control","upgrade-required"]]"#.utf8))
        XCTAssertFalse(other.isTurnComplete)
        let spoof = StoredRecord(seq: 3, data: nil, headers: Array(#"[["trigger-control","x"],["note","[[\"trigger-control\",\"turn-complete\"]"]]"#.utf8))
        XCTAssertFalse(spoof.isTurnComplete, "only the record's own subtype counts")
        XCTAssertFalse(StoredRecord(seq: 4, data: Array(#""turn-complete""#.utf8), headers: nil).isTurnComplete)
    }
}
