// Each script's reply decoder against literal replies: the shapes the Lua `return`s give, and
// malformed ones, which must be a ScriptReplyError naming the script (never a crash). No Redis.
import XCTest
@testable import RelayIO
@testable import RelayRedis
@testable import RelayStorage
import RelayCore

private func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }
private func array(_ items: RedisReply...) -> RedisReply { .array(items) }
private let entry = #"{"env":"env_a","ix":false,"run":false,"at":1}"#
private let row: [RedisReply] = [bulk("id"), bulk("session_x"), bulk("env"), bulk("env_a")]
private let rowFields = ["id": "session_x", "env": "env_a"]

/// Asserts `decode` throws a ScriptReplyError of `script` whose text says `mentions`.
private func assertRefused<R>(_ decode: @autoclosure () throws(ScriptReplyError) -> R, _ script: LuaScript,
                              mentions: String, file: StaticString = #filePath, line: UInt = #line) {
    do throws(ScriptReplyError) {
        let value = try decode()
        XCTFail("decoded \(value)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.script, script.name, file: file, line: line)
        XCTAssertTrue(error.description.hasPrefix("unexpected reply from \(script.name): "), error.description, file: file, line: line)
        XCTAssertTrue(error.problem.contains(mentions), "\(error.problem) does not mention \(mentions)", file: file, line: line)
    }
}

final class ScriptRepliesTests: XCTestCase {
    // MARK: Every decoder

    func testNoDecoderTakesAnErrorOrAFailure() {
        for reply in [RedisReply.error("ERR boom"), .failure(.connectionLost), .null, .status("OK")] {
            XCTAssertThrowsError(try CreateSessionReply(reply))
            XCTAssertThrowsError(try ClaimExternalReply(reply))
            XCTAssertThrowsError(try GetSessionReply(reply))
            XCTAssertThrowsError(try UpdateSessionReply(reply))
            XCTAssertThrowsError(try CloseSessionReply(reply))
            XCTAssertThrowsError(try ListSessionsReply(reply))
            XCTAssertThrowsError(try CompleteRunReply(reply))
            XCTAssertThrowsError(try FinishRunReply(reply))
            XCTAssertThrowsError(try AppendRecordReply(reply))
            XCTAssertThrowsError(try CommitRecordsReply(reply))
            XCTAssertThrowsError(try ReadChannelReply(reply))
            XCTAssertThrowsError(try ApplyOutboxReply(reply))
            XCTAssertThrowsError(try OutboxCursorReply(reply))
            XCTAssertThrowsError(try SweepIndexesReply(reply))
        }
    }

    func testDecodedMapsRedisErrorsAsEverywhereAndUnknownShapesToAnInternalError() {
        XCTAssertEqual(RedisReply.failure(.connectionLost).decoded(as: FinishRunReply.self).failureStatus, 503)
        XCTAssertEqual(RedisReply.error("LOADING Redis is loading").decoded(as: FinishRunReply.self).failureStatus, 503)
        let odd = RedisReply.integer(7).decoded(as: FinishRunReply.self)
        XCTAssertEqual(odd.failureStatus, 500)
        if case .failure(let error) = odd {
            XCTAssertEqual(error.message, APIError.internalErrorMessage)
            XCTAssertEqual(error.detail, "unexpected reply from finish_run: not 0 or 1 in integer(7)")
        }
        XCTAssertEqual(RedisReply.integer(1).decoded(as: FinishRunReply.self).successValue, FinishRunReply(cleared: true))
    }

    func testALongReplyIsCutInTheErrorText() {
        let long = RedisReply.array((0..<200).map { _ in bulk("0123456789") })
        do throws(ScriptReplyError) {
            _ = try CompleteRunReply(long)
            XCTFail("decoded")
        } catch {
            XCTAssertLessThan(error.description.count, 400)
            XCTAssertTrue(error.description.hasSuffix("…"))
        }
    }

    // MARK: create_session

    func testCreateSession() throws {
        XCTAssertEqual(try CreateSessionReply(.array([bulk("created"), bulk(entry)] + row)),
                       .created(SessionRowWrite(outboxEntry: entry, row: rowFields)))
        XCTAssertEqual(try CreateSessionReply(.array([bulk("cached"), bulk("")] + row)),
                       .cached(SessionRowWrite(outboxEntry: nil, row: rowFields)))
        XCTAssertEqual(try CreateSessionReply(array(bulk("conflict"))), .conflict)
        XCTAssertEqual(try CreateSessionReply(array(bulk("taken"))), .taken)
        XCTAssertEqual(try CreateSessionReply(array(bulk("stale"))), .stale)
        XCTAssertEqual(try CreateSessionReply(array(bulk("gone"))), .gone)
    }

    func testCreateSessionMalformed() {
        assertRefused(try CreateSessionReply(array(bulk("created"))), RelayScripts.createSession, mentions: "outbox entry")
        assertRefused(try CreateSessionReply(array(bulk("created"), array())), RelayScripts.createSession, mentions: "element 1 (outbox entry) is not a bulk string")
        assertRefused(try CreateSessionReply(array(bulk("made"))), RelayScripts.createSession, mentions: "unknown status made")
        assertRefused(try CreateSessionReply(array()), RelayScripts.createSession, mentions: "no status word")
    }

    // MARK: claim_external

    func testClaimExternal() throws {
        XCTAssertEqual(try ClaimExternalReply(array(bulk("claimed"), bulk("session_a"), .integer(1_700_000_000_123))),
                       .claimed(id: "session_a", createdAt: 1_700_000_000_123))
        XCTAssertEqual(try ClaimExternalReply(array(bulk("existing"), bulk("session_b"), .integer(-1), .integer(0))),
                       .existing(id: "session_b", version: -1, staleClaim: false))
        let stale = try ClaimExternalReply(array(bulk("existing"), bulk("session_c"), .integer(0), .integer(1)))
        XCTAssertEqual(stale, .existing(id: "session_c", version: 0, staleClaim: true))
        XCTAssertEqual(stale.id, "session_c")
    }

    func testClaimExternalMalformed() {
        assertRefused(try ClaimExternalReply(array(bulk("existing"), bulk("session_b"), .integer(3))),
                      RelayScripts.claimExternal, mentions: "no element 3 (stale claim)")
        assertRefused(try ClaimExternalReply(array(bulk("claimed"), bulk("session_a"), bulk("soon"))),
                      RelayScripts.claimExternal, mentions: "element 2 (createdAt) is not an integer")
        assertRefused(try ClaimExternalReply(array(bulk("existing"), bulk("session_b"), .integer(3), .integer(2))),
                      RelayScripts.claimExternal, mentions: "element 3 (stale claim) is not 0 or 1")
    }

    // MARK: get_session

    func testGetSession() throws {
        XCTAssertEqual(try GetSessionReply(.array(row)), .row(rowFields))
        XCTAssertEqual(try GetSessionReply(array()), .notThisName)
        assertRefused(try GetSessionReply(bulk("id")), RelayScripts.getSession, mentions: "not an array")
    }

    // MARK: update_session, close_session

    func testUpdateSession() throws {
        XCTAssertEqual(try UpdateSessionReply(.array([bulk("ok"), bulk(entry)] + row)),
                       .updated(SessionRowWrite(outboxEntry: entry, row: rowFields)))
        XCTAssertEqual(try UpdateSessionReply(.array([bulk("ok"), bulk("")] + row)),
                       .updated(SessionRowWrite(outboxEntry: nil, row: rowFields)))
        XCTAssertEqual(try UpdateSessionReply(array(bulk("notfound"))), .notFound)
        XCTAssertEqual(try UpdateSessionReply(array(bulk("unprocessable"))), .unprocessable)
        assertRefused(try UpdateSessionReply(array(bulk("ok"))), RelayScripts.updateSession, mentions: "no element 1 (outbox entry)")
        assertRefused(try UpdateSessionReply(array(bulk("closed"))), RelayScripts.updateSession, mentions: "unknown status closed")
    }

    func testCloseSession() throws {
        XCTAssertEqual(try CloseSessionReply(.array([bulk("ok"), bulk(entry)] + row)),
                       .closed(SessionRowWrite(outboxEntry: entry, row: rowFields)))
        XCTAssertEqual(try CloseSessionReply(.array([bulk("ok"), bulk("")])), .closed(SessionRowWrite(outboxEntry: nil, row: [:])))
        XCTAssertEqual(try CloseSessionReply(array(bulk("notfound"))), .notFound)
        assertRefused(try CloseSessionReply(array(bulk("unprocessable"))), RelayScripts.closeSession, mentions: "unknown status")
        assertRefused(try CloseSessionReply(array(bulk("ok"), .integer(1))), RelayScripts.closeSession, mentions: "(outbox entry) is not a bulk string")
        assertRefused(try CloseSessionReply(array(bulk("ok"))), RelayScripts.closeSession, mentions: "no element 1")
    }

    // MARK: list_sessions

    func testListSessions() throws {
        XCTAssertEqual(try ListSessionsReply(array(bulk("ok"), bulk(""), bulk(""))), .page(ids: [], next: nil, previous: nil))
        XCTAssertEqual(try ListSessionsReply(array(bulk("ok"), bulk("session_b"), bulk("session_z"), bulk("session_z"), bulk("session_b"))),
                       .page(ids: ["session_z", "session_b"], next: "session_b", previous: "session_z"))
        XCTAssertEqual(try ListSessionsReply(array(bulk("badcursor"))), .badCursor)
    }

    func testListSessionsMalformed() {
        assertRefused(try ListSessionsReply(array(bulk("ok"), bulk(""))), RelayScripts.listSessions, mentions: "no element 2 (previous id)")
        assertRefused(try ListSessionsReply(array(bulk("ok"), bulk(""), bulk(""), array())), RelayScripts.listSessions,
                      mentions: "element 3 (session id) is not a string")
    }

    // MARK: complete_run, finish_run

    func testCompleteRun() throws {
        XCTAssertEqual(try CompleteRunReply(array(bulk("ok"), bulk("session_a"))), .completed(sessionId: "session_a"))
        XCTAssertEqual(try CompleteRunReply(array(bulk("notfound"))), .notFound)
        assertRefused(try CompleteRunReply(array(bulk("ok"))), RelayScripts.completeRun, mentions: "no element 1 (session id)")
    }

    func testFinishRun() throws {
        XCTAssertEqual(try FinishRunReply(.integer(1)), FinishRunReply(cleared: true))
        XCTAssertEqual(try FinishRunReply(.integer(0)), FinishRunReply(cleared: false))
        assertRefused(try FinishRunReply(.integer(2)), RelayScripts.finishRun, mentions: "not 0 or 1")
    }

    // MARK: append_records (one append's reply)

    func testAppendRecord() throws {
        XCTAssertEqual(try AppendRecordReply(array(bulk("ok"), .integer(42), .integer(0), bulk(entry))),
                       .appended(seq: 42, duplicate: false, outboxEntry: entry))
        XCTAssertEqual(try AppendRecordReply(array(bulk("ok"), .integer(7), .integer(1), bulk(""))),
                       .appended(seq: 7, duplicate: true, outboxEntry: nil))
        // A seq past 2^53 (a loss marker's) comes back whole.
        XCTAssertEqual(try AppendRecordReply(array(bulk("ok"), .integer(1_800_000_000_000_001), .integer(0), bulk(""))),
                       .appended(seq: 1_800_000_000_000_001, duplicate: false, outboxEntry: nil))
        XCTAssertEqual(try AppendRecordReply(array(bulk("notfound"))), .notFound)
        XCTAssertEqual(try AppendRecordReply(array(bulk("closed"))), .closed)
        XCTAssertEqual(try AppendRecordReply(array(bulk("expired"))), .expired)
    }

    func testAppendRecordMalformed() {
        let script = RelayScripts.appendRecords
        assertRefused(try AppendRecordReply(array(bulk("ok"), .integer(42), .integer(0))), script, mentions: "no element 3 (outbox entry)")
        assertRefused(try AppendRecordReply(array(bulk("ok"), .integer(-3), .integer(0), bulk(""))), script, mentions: "element 1 (seq) is negative")
        assertRefused(try AppendRecordReply(array(bulk("ok"), .null, .integer(0), bulk(""))), script, mentions: "element 1 (seq) is not an integer")
        assertRefused(try AppendRecordReply(array(bulk("ok"), .integer(1), .integer(5), bulk(""))), script, mentions: "element 2 (duplicate) is not 0 or 1")
        assertRefused(try AppendRecordReply(array(.integer(1))), script, mentions: "unknown status 1")
    }

    func testAppendGroupSplitsOneReplyPerAppend() {
        let ok = array(bulk("ok"), .integer(5), .integer(0), bulk(""))
        let parts = AppendGroups.split(array(ok, array(bulk("error"), bulk("READONLY You can't write")), array(bulk("closed"))), count: 3)
        XCTAssertEqual(parts, [ok, .error("READONLY You can't write"), array(bulk("closed"))])
        // A reply that is not one element per append is everybody's reply.
        XCTAssertEqual(AppendGroups.split(.failure(.connectionLost), count: 2), [.failure(.connectionLost), .failure(.connectionLost)])
        XCTAssertEqual(AppendGroups.split(.error("NOSCRIPT"), count: 2), [.error("NOSCRIPT"), .error("NOSCRIPT")])
        XCTAssertEqual(AppendGroups.split(array(ok), count: 2), [array(ok), array(ok)])
    }

    // MARK: commit_records

    func testCommitRecords() throws {
        XCTAssertEqual(try CommitRecordsReply(.integer(0)), .published(0))
        XCTAssertEqual(try CommitRecordsReply(.integer(12)), .published(12))
        XCTAssertEqual(try CommitRecordsReply(.integer(-1)), .closed)
        XCTAssertEqual(try CommitRecordsReply(.integer(-2)), .expired)
        assertRefused(try CommitRecordsReply(.integer(-3)), RelayScripts.commitRecords, mentions: "not a count")
        assertRefused(try CommitRecordsReply(bulk("1")), RelayScripts.commitRecords, mentions: "not a count")
    }

    // MARK: read_channel

    func testReadChannel() throws {
        let data = array(bulk("0-3"), array(bulk("d"), bulk(#"{"a":1}"#), bulk("t"), bulk("1700")))
        let control = array(bulk("0-4"), array(bulk("h"), bulk(#"[["k","v"]]"#)))
        let marker = array(bulk("0-9000"), array(bulk("l"), bulk("4")))
        let reply = try ReadChannelReply(array(.integer(9000), .integer(9000), .integer(0), .integer(1700), data, control, marker))
        var page = ChannelPage(records: [
            StoredRecord(seq: 3, data: Array(#"{"a":1}"#.utf8), time: 1700),
            StoredRecord(seq: 4, headers: Array(#"[["k","v"]]"#.utf8)),
            StoredRecord(seq: 9000, lostAfter: 4),
        ], last: 9000, highWatermark: 9000, ended: false)
        page.lastTime = 1700
        XCTAssertEqual(reply.page, page)
        XCTAssertEqual(try ReadChannelReply(array(.integer(5), .integer(4), .integer(1), .integer(0))).page,
                       ChannelPage(records: [], last: 5, highWatermark: 4, ended: true))
    }

    func testReadChannelMalformed() {
        let script = RelayScripts.readChannel
        assertRefused(try ReadChannelReply(array(.integer(5), .integer(4))), script, mentions: "no element 2 (ended)")
        assertRefused(try ReadChannelReply(array(.integer(5), .integer(4), .integer(0))), script, mentions: "no element 3 (last record time)")
        assertRefused(try ReadChannelReply(array(bulk("x"), .integer(4), .integer(0), .integer(0))), script, mentions: "element 0 (last seq) is not an integer")
        assertRefused(try ReadChannelReply(array(.integer(5), .integer(4), .integer(3), .integer(0))), script, mentions: "element 2 (ended) is not 0 or 1")
    }

    // MARK: apply_outbox, outbox_cursor

    func testApplyOutbox() throws {
        XCTAssertEqual(try ApplyOutboxReply(array(bulk("ok"))), .applied)
        XCTAssertEqual(try ApplyOutboxReply(array(bulk("need"), bulk("relay:{env:a}:idx:tag:x"))), .needs(keys: ["relay:{env:a}:idx:tag:x"]))
        assertRefused(try ApplyOutboxReply(array(bulk("need"), .null)), RelayScripts.applyOutbox, mentions: "element 1 (index key) is not a string")
        assertRefused(try ApplyOutboxReply(array(bulk("done"))), RelayScripts.applyOutbox, mentions: "unknown status done")
    }

    func testOutboxCursor() throws {
        XCTAssertEqual(try OutboxCursorReply(.integer(0)), .range(firstSlot: 0))
        XCTAssertEqual(try OutboxCursorReply(.integer(15_360)), .range(firstSlot: 15_360))
        XCTAssertEqual(try OutboxCursorReply(.integer(-1)), .tooSoon)
        assertRefused(try OutboxCursorReply(.integer(16_384)), RelayScripts.outboxCursor, mentions: "not a slot")
        assertRefused(try OutboxCursorReply(.integer(-2)), RelayScripts.outboxCursor, mentions: "not a slot")
    }

    // MARK: sweep_indexes

    func testSweepIndexes() throws {
        let step = try SweepIndexesReply(array(.integer(120), .integer(3), .integer(0), bulk("idx:tag:a"), bulk("idx:tag:b"), bulk("idx:type:c")))
        XCTAssertEqual(step, SweepIndexesReply(examined: 120, removed: 3, finishedPass: false, target: "idx:tag:a", following: ["idx:tag:b", "idx:type:c"]))
        XCTAssertEqual(step.upcoming, ["idx:tag:a", "idx:tag:b", "idx:type:c"])
        let finished = try SweepIndexesReply(array(.integer(7), .integer(0), .integer(1), bulk("ext")))
        XCTAssertTrue(finished.finishedPass)
        XCTAssertEqual(finished.upcoming, ["ext"])
    }

    func testSweepIndexesMalformed() {
        let script = RelayScripts.sweepIndexes
        assertRefused(try SweepIndexesReply(array(.integer(1), .integer(0), .integer(0))), script, mentions: "no element 3 (target)")
        assertRefused(try SweepIndexesReply(array(.integer(1), bulk("x"), .integer(0), bulk("ext"))), script, mentions: "element 1 (removed) is not an integer")
    }
}

/// Every key a relay node names, spelled by RedisKeys (the layout of Lua/lib.lua).
final class RedisKeysLayoutTests: XCTestCase {
    let keys = RedisKeys(prefix: "relay:")

    func testTheIndexKeys() {
        XCTAssertEqual(keys.fixedIndexes(environment: "env_a"),
                       ["relay:{env:env_a}:idx:all", "relay:{env:env_a}:idx:open", "relay:{env:env_a}:idx:closed"])
        XCTAssertEqual(keys.index(environment: "env_a", .type("chat")), "relay:{env:env_a}:idx:type:chat")
        XCTAssertEqual(keys.index(environment: "env_a", .task("t")), "relay:{env:env_a}:idx:task:t")
        XCTAssertEqual(keys.index(environment: "env_a", .tag("vip")), "relay:{env:env_a}:idx:tag:vip")
        XCTAssertEqual(keys.index(environment: "env_a", named: "idx:tag:vip"), keys.index(environment: "env_a", .tag("vip")))
        XCTAssertEqual(keys.environmentBase("env_a") + SessionIndex.tagPrefix + "vip", keys.index(environment: "env_a", .tag("vip")))
    }

    func testTheStatusKeysShareOneSlot() {
        XCTAssertEqual(keys.statusNode("n1"), "relay:{status}:node:n1")
        XCTAssertEqual(keys.statusNodes, "relay:{status}:nodes")
        XCTAssertEqual(keys.statusProbe("abc"), "relay:{status}:probe:abc")
        XCTAssertEqual(ClusterSlot.of(keys.statusNode("n1")), ClusterSlot.of(keys.statusNodes))
    }
}

private extension Result {
    var failureStatus: Int? {
        if case .failure(let error as APIError) = self { return error.status }
        return nil
    }
    var successValue: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
