// RestoredRedisHistoryTests.swift: issue 15 with one Redis that comes back from an older AOF
// (appendonly yes, Redis 7's multi-part AOF in `appendonlydir`): records 1..N, the AOF copied
// aside, records N+1..M read live by a subscriber, then Redis stopped, the copy restored and
// Redis started again on the same port. N+1..M are gone: the live subscriber, a fresh resume from
// M and a drain past the end are told (`event: lost`, `lost`), promptly; the next append gets a
// seq far above M (a new block) after a loss marker with after = N; nothing in N+1..M is ever
// drained again. Single-instance mode only (it stops and restores its own redis-server).

import XCTest
import Foundation

final class RestoredRedisHistoryTests: RelayTestCase {
    override class var redisPersistent: Bool { true }

    func testARedisRestoredFromAnOlderAOFSignalsTheLossAndMovesSeqsAboveIt() throws {
        try skipWithSharedRedis("restores its own redis-server from an older AOF")
        let server = try redis.ownServer()
        let session = try api.newSession()
        let live = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "120")])
        XCTAssertEqual(live.status, 200)

        // Records 1..N, read live.
        var kept: [HistoryItem] = []
        for i in 1...5 { kept.append(.record(id: try appendedSeq(session, "kept \(i)"), body: "kept \(i)")) }
        for item in kept { XCTAssertEqual(try HistoryItem.parse(XCTUnwrap(try live.nextDataEvent())), item) }
        let n = try XCTUnwrap(kept.last?.id)

        // The AOF copied aside while writes are paused (every acknowledged write is in the files:
        // Redis writes the AOF buffer before it answers).
        let aof = server.directory.appendingPathComponent("appendonlydir")
        let copy = server.directory.appendingPathComponent("appendonlydir-at-\(n)")
        let admin = try server.client()
        try admin.checked("CLIENT", "PAUSE", "10000", "WRITE")
        do {
            try FileManager.default.copyItem(at: aof, to: copy)
        } catch {
            _ = try? admin.command("CLIENT", "UNPAUSE")
            throw error
        }
        try admin.checked("CLIENT", "UNPAUSE")
        admin.close()

        // Records N+1..M, read live: the history about to be lost.
        var doomed: [HistoryItem] = []
        for i in 1...5 { doomed.append(.record(id: try appendedSeq(session, "doomed \(i)"), body: "doomed \(i)")) }
        for item in doomed { XCTAssertEqual(try HistoryItem.parse(XCTUnwrap(try live.nextDataEvent())), item) }
        let m = try XCTUnwrap(doomed.last?.id)
        XCTAssertGreaterThan(doomed[0].id ?? 0, n)

        // Redis back from the copy, on the same port.
        server.stop()
        try FileManager.default.removeItem(at: aof)
        try FileManager.default.moveItem(at: copy, to: aof)
        try server.start()
        try waitUntil(timeout: 15, "/readyz to answer 200 once Redis is back") { try http.request("GET", "/readyz").status == 200 }
        let check = try server.client()
        XCTAssertEqual(try check.checked("DBSIZE").integer.map { $0 > 0 }, true, "the restored AOF was loaded")
        check.close()

        // (d) A fresh resume from M: told at once that N+1..M are gone; a drain past the end too.
        let pastEnd = HistoryItem.lost(id: nil, after: n, before: m + 1)
        let opened = Date()
        let fresh = try waitForValue(timeout: 10, "a subscribe after the restore to answer 200") { () -> SSEConnection? in
            let stream = try api.subscribe(session, "out", headers: [("Last-Event-ID", String(m)), ("Timeout-Seconds", "120")])
            if stream.status == 200 { return stream }
            stream.close()
            return nil
        }
        XCTAssertEqual(try HistoryItem.parse(XCTUnwrap(try fresh.nextDataEvent(timeout: 5), "the fresh resume's stream ended")), pastEnd,
                       "a resume from M, past the restored end N, is told of the loss at once")
        XCTAssertLessThan(Date().timeIntervalSince(opened), 5, "the past-end signal comes promptly")
        let drainPastEnd = try api.drain(session, "out", query: [("afterEventId", String(m))])
        XCTAssertEqual(drainPastEnd.status, 200, drainPastEnd.description)
        XCTAssertEqual(try drainPastEnd.json(), ["records": [], "hasMore": false, "lost": ["after": .number(Double(n)), "before": .number(Double(m + 1))]])

        // (a) The live subscriber (or, if its stream ended, its resume with the last id it got, as
        // EventSource does) is told too.
        var liveStream = live
        var liveItems: [HistoryItem] = []
        var liveReconnects: [Int] = []
        func nextLive(timeout: TimeInterval) throws -> HistoryItem {
            let deadline = Deadline.after(timeout)
            while true {
                let wait = max(0.1, Double(deadline.pollMilliseconds) / 1000)
                if let event = try liveStream.nextDataEvent(timeout: wait) {
                    guard let item = try HistoryItem.parse(event) else { continue }
                    liveItems.append(item)
                    return item
                }
                let lastId = liveItems.compactMap(\.id).last ?? m
                liveReconnects.append(lastId)
                liveStream = try api.subscribe(session, "out", headers: [("Last-Event-ID", String(lastId)), ("Timeout-Seconds", "120")])
                guard liveStream.status == 200 else { throw HarnessError("the live subscriber's resume answered \(liveStream.status)") }
            }
        }
        let first = try nextLive(timeout: 10)
        XCTAssertEqual(first, pastEnd, "the live subscriber that got N+1..M is told they are gone before anything is appended"
            + " (its stream was resumed after: \(liveReconnects))")

        // (b) The next append: a new block far above M, after a loss marker with after = N.
        let beforeAppendMs = Int(Date().timeIntervalSince1970 * 1000)
        let next = try appendedSeq(session, "after restore")
        XCTAssertGreaterThan(next, m, "a seq is never handed out twice")
        XCTAssertGreaterThan(next, (beforeAppendMs - 60_000) * 1000, "a new block (now_ms * 1000 and above)")
        XCTAssertLessThanOrEqual(next, HistoryItem.maxSafeInteger, "below 2^53")

        // (c) The drain: 1..N, the marker, the new record; nothing of N+1..M.
        let drain = try drainHistory(api, session)
        guard let marker = drain.first(where: { $0.lostRange != nil }), let markerId = marker.id else {
            return XCTFail("the drain has no loss marker: \(drain)")
        }
        XCTAssertEqual(marker, .lost(id: markerId, after: n, before: markerId), "the marker says everything after N is gone")
        XCTAssertGreaterThan(markerId, m)
        XCTAssertLessThan(markerId, next)
        XCTAssertEqual(drain, kept + [marker, .record(id: next, body: "after restore")], "the drained history")
        XCTAssertTrue(drain.allSatisfy { ($0.id ?? 0) <= n || ($0.id ?? 0) > m }, "no seq of N+1..M is drained again: \(drain)")

        print("\(name): kept 1..\(n), lost up to \(m); marker \(marker); next record \(next);"
            + " the live stream was resumed after \(liveReconnects.isEmpty ? "never" : "\(liveReconnects)")")

        // The live subscriber and the fresh one get the marker and the record (a repeated past-end
        // signal before them is allowed).
        func afterRepeats(_ read: () throws -> HistoryItem) throws -> HistoryItem {
            var item = try read()
            while item == pastEnd { item = try read() }
            return item
        }
        let readFresh = { () throws -> HistoryItem in
            let event = try XCTUnwrap(try fresh.nextDataEvent(timeout: 10), "the fresh stream ended")
            return try XCTUnwrap(try HistoryItem.parse(event))
        }
        XCTAssertEqual(try afterRepeats { try nextLive(timeout: 10) }, marker, "live subscriber: the loss marker")
        XCTAssertEqual(try nextLive(timeout: 10), .record(id: next, body: "after restore"), "live subscriber: the new record")
        XCTAssertEqual(try afterRepeats(readFresh), marker, "fresh subscriber: the loss marker")
        XCTAssertEqual(try readFresh(), .record(id: next, body: "after restore"), "fresh subscriber: the new record")

        // A resume from M now reads the marker and the record (M is no longer past the end).
        let resumed = try api.subscribe(session, "out", headers: [("Last-Event-ID", String(m)), ("Timeout-Seconds", "1")])
        var resumedItems: [HistoryItem] = []
        while let event = try resumed.nextDataEvent(timeout: 5) { if let item = try HistoryItem.parse(event) { resumedItems.append(item) } }
        XCTAssertEqual(resumedItems, [marker, .record(id: next, body: "after restore")])
        let drainFromM = try api.drain(session, "out", query: [("afterEventId", String(m))])
        XCTAssertEqual(try drainFromM.json()["lost"], nil, "M is no longer past the end")
        XCTAssertEqual(try drainFromM.json()["records"]?.arrayValue?.count, 2)
    }

    private func appendedSeq(_ session: String, _ body: String) throws -> Int {
        let response = try api.append(session, "out", body)
        guard response.status == 200, let seq = try response.json()["seq"]?.intValue else {
            throw HarnessError("append \(body.debugDescription): \(response)")
        }
        return seq
    }
}
