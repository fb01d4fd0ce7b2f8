// FaultTests.swift: the faults on channels: a Redis restart mid-stream, a slow
// subscriber on a shared channel.

import XCTest
import Foundation

final class FaultTests: RelayTestCase {
    override class var redisPersistent: Bool { true }
    override class var relayEnvironment: [String: String] { ["RELAY_MAX_UNSENT_BYTES": "262144"] }

    func testRedisRestartMidStreamDeliversEveryRecordExactlyOnce() throws {
        try skipWithSharedRedis("stops and restarts its own redis-server (ClusterFailoverTests kill cluster primaries)")
        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        for i in 1...20 { XCTAssertEqual(try api.append(session, "out", "before \(i)").status, 200) }
        for i in 1...20 { XCTAssertEqual(try stream.nextDataEvent()?.id, String(i)) }

        try redis.ownServer().stop()
        let started = Date()
        let refused = try api.append(session, "out", "while down")
        XCTAssertEqual(refused.status, 503, refused.description)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "appends must fail fast while Redis is down")
        XCTAssertEqual(try api.retrieveSession(session).status, 503)
        try waitUntil(timeout: 5, "/readyz to answer 503 while Redis is down") {
            try http.request("GET", "/readyz").status == 503
        }

        try redis.ownServer().start()
        // A restarted Redis may lack its last writes (it cannot say whether its AOF had them
        // all): the first append after it opens a new block of seqs behind a loss marker that
        // keeps records 1-20.
        try waitUntil(timeout: 15, "appends to work again after the restart") {
            try api.append(session, "out", "after 1", partId: "after-1").status == 200
        }
        for i in 2...20 { XCTAssertEqual(try api.append(session, "out", "after \(i)").status, 200) }
        let marker = try XCTUnwrap(try stream.nextDataEvent(timeout: 15))
        XCTAssertEqual(marker.event, "lost", marker.description)
        XCTAssertEqual(try marker.json()["lost"]?["after"]?.intValue, 20)
        let base = try XCTUnwrap(marker.id.flatMap(UInt64.init), marker.description)
        XCTAssertGreaterThan(base, UInt64(Date().timeIntervalSince1970 * 1000 - 60_000) * 1000, "a block above anything a lost history could have used")
        for i in 1...20 {
            let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 15), "stream ended before record \(i)")
            XCTAssertEqual(event.id, String(base + UInt64(i)), "every record once, in order, on the same open stream")
            XCTAssertEqual(try event.json()["data"]?.stringValue, "after \(i)")
        }
        XCTAssertEqual(try http.request("GET", "/readyz").status, 200)
    }

    func testARedisThatHangsGives503WithinTheCommandDeadline() throws {
        let session = try api.newSession()
        let admin = try redis.client()
        _ = try admin.command("CLIENT", "PAUSE", "6000", "ALL")
        defer { _ = try? admin.command("CLIENT", "UNPAUSE") }
        let started = Date()
        let response = try api.append(session, "in", "while Redis hangs")
        XCTAssertEqual(response.status, 503, response.description)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "the relay gives up on a hanging Redis after ~2 s")
        _ = try admin.command("CLIENT", "UNPAUSE")
        try waitUntil(timeout: 10, "appends to work again") { try api.append(session, "in", "after").status == 200 }
    }

    func testSlowReaderIsDisconnectedWhileAFastReaderGetsEverythingAndTheSlowOneResumes() throws {
        let session = try api.newSession()
        let slow = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        let fast = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        let count = 600
        let record = String(repeating: "x", count: 16_000)
        let fastIds = ResultTimes(count: count)
        let reader = Thread {
            for _ in 1...count {
                guard let event = try? fast.nextDataEvent(timeout: 30), let id = event.id.flatMap(Int.init) else { return }
                fastIds.set(id, Date())
            }
        }
        reader.start()
        for i in 1...count { XCTAssertEqual(try api.append(session, "out", "\(i) \(record)").status, 200) }
        try waitUntil(timeout: 30, "the fast reader to get all \(count) records") { fastIds.get(count) != nil }
        for i in 1...count { XCTAssertNotNil(fastIds.get(i), "fast reader missed \(i)") }

        // The slow reader got a prefix, then its connection was dropped.
        var lastId = 0
        do {
            while let event = try slow.nextDataEvent(timeout: 10) {
                let id = try XCTUnwrap(event.id.flatMap(Int.init))
                XCTAssertEqual(id, lastId + 1)
                lastId = id
            }
        } catch {
            // A connection dropped mid-chunk is a read error: also the end of the stream.
        }
        XCTAssertLessThan(lastId, count, "the slow reader should have been disconnected")
        let resumed = try api.subscribe(session, "out", headers: [("Last-Event-ID", String(lastId)), ("Timeout-Seconds", "2")])
        for i in (lastId + 1)...count {
            XCTAssertEqual(try resumed.nextDataEvent(timeout: 10)?.id, String(i), "resume loses nothing")
        }
    }
}
