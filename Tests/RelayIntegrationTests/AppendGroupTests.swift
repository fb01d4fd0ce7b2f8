// AppendGroupTests.swift: appends that reach a node together share one script call in Redis
// (AppendGroups, append_records.lua), and each still answers exactly as if it had run alone:
// its own seq, consecutive and in the order given per channel, its own X-Part-Id dedup, its own
// refusal, its own run trigger. Runs in both modes (a cluster groups per slot: every append to
// one session shares its slot).

import XCTest
import Foundation

final class AppendGroupTests: RelayTestCase {
    func testConcurrentAppendsShareScriptCallsAndEachAnswersAsAlone() throws {
        let channels = try (0..<3).map { _ in try api.newSession() }
        let closed = try api.newSession()
        XCTAssertEqual(try api.closeSession(closed).status, 200)
        let before = try scrapeMetrics()

        // 40 appends to each channel, every fifth one sent twice with the same X-Part-Id, plus
        // appends to a closed session and to one that does not exist, all at once.
        enum Kind { case record(channel: Int, n: Int, repeated: Bool), closed, missing }
        var plan: [Kind] = []
        for n in 0..<40 {
            for channel in channels.indices {
                plan.append(.record(channel: channel, n: n, repeated: false))
                if n % 5 == 0 { plan.append(.record(channel: channel, n: n, repeated: true)) }
            }
            if n % 10 == 0 { plan += [.closed, .missing] }
        }
        let responses = try concurrentMap(plan.count, threads: 48) { index -> (status: Int, seq: Int?, duplicate: Bool?) in
            let response: HTTPResponse
            switch plan[index] {
            case .record(let channel, let n, _):
                response = try self.api.append(channels[channel], "out", "c\(channel)-\(n)", partId: "p\(channel)-\(n)")
            case .closed: response = try self.api.append(closed, "out", "late")
            case .missing: response = try self.api.append("session_" + String(repeating: "0", count: 25), "out", "nobody")
            }
            let json = response.status == 200 ? try response.json() : nil
            return (response.status, json?["seq"]?.intValue, json?["duplicate"]?.boolValue)
        }

        var firstSeq: [String: Int] = [:]
        for (kind, answer) in zip(plan, responses) {
            switch kind {
            case .record(let channel, let n, _):
                XCTAssertEqual(answer.status, 200, "c\(channel)-\(n)")
                let seq = try XCTUnwrap(answer.seq, "c\(channel)-\(n) has a seq")
                // Both sends of a repeated part id answer the same seq, whichever ran first.
                if let earlier = firstSeq["c\(channel)-\(n)"] { XCTAssertEqual(seq, earlier, "c\(channel)-\(n): one seq for one part id") }
                firstSeq["c\(channel)-\(n)"] = seq
            case .closed: XCTAssertEqual(answer.status, 400, "an append to a closed session is refused, alone")
            case .missing: XCTAssertEqual(answer.status, 404, "an append to no session is not found, alone")
            }
        }
        XCTAssertEqual(responses.filter { $0.duplicate == true }.count, 3 * 8, "exactly the repeated sends are duplicates")

        // Each channel holds each record once, at the seq its append answered: 1...40, no gap.
        for (channel, session) in channels.enumerated() {
            let records = try XCTUnwrap(try api.drain(session, "out", query: [("limit", "100")]).json()["records"]?.arrayValue)
            XCTAssertEqual(records.compactMap { $0["seqNum"]?.intValue ?? $0["id"]?.intValue }.count, 40)
            var bodies: [Int: String] = [:]
            for record in records {
                let seq = try XCTUnwrap(record["id"]?.intValue ?? record["seqNum"]?.intValue)
                bodies[seq] = record["data"]?.stringValue
            }
            XCTAssertEqual(Set(bodies.keys), Set(1...40), "channel \(channel): consecutive seqs")
            for n in 0..<40 {
                XCTAssertEqual(bodies[firstSeq["c\(channel)-\(n)"] ?? -1], "c\(channel)-\(n)", "channel \(channel): the answered seq holds the record")
            }
        }

        // Fewer script calls than appends: they were grouped (and every append was counted).
        let after = try scrapeMetrics()
        let calls = (after["relay_redis_append_calls_total"] ?? 0) - (before["relay_redis_append_calls_total"] ?? 0)
        let grouped = (after["relay_redis_appends_grouped_total"] ?? 0) - (before["relay_redis_appends_grouped_total"] ?? 0)
        XCTAssertEqual(grouped, Double(plan.count), "every append went through a group")
        XCTAssertGreaterThan(calls, 0)
        XCTAssertLessThan(calls, grouped, "\(Int(grouped)) concurrent appends took \(Int(calls)) script calls: none shared one")
    }

    /// An append that fails inside Redis fails alone: here its stream key holds a string (as if
    /// corrupted), so its XADD errors. It answers 500; the appends sent with it succeed; and its
    /// X-Part-Id is not left claimed, so once the channel is repaired the same X-Part-Id gets a
    /// real seq instead of a "duplicate" of one never written.
    func testAnAppendFailingInRedisFailsAloneAndLeavesItsPartIdFree() throws {
        let broken = try api.newSession()
        let healthy = try (0..<4).map { _ in try api.newSession() }
        let client = try redis.client()
        let stream = "relay:{s:\(broken)}:out"
        try client.checked("SET", stream, "not a stream")
        let plan = [broken] + healthy + healthy
        let answers = try concurrentMap(plan.count, threads: plan.count) { i in
            try self.api.append(plan[i], "out", "r\(i)", partId: "part-\(i)")
        }
        XCTAssertEqual(answers[0].status, 500, "the broken channel's append fails: \(answers[0])")
        for (i, answer) in answers.enumerated().dropFirst() {
            XCTAssertEqual(answer.status, 200, "append \(i), sent with it, is unaffected: \(answer)")
        }
        XCTAssertEqual(try client.command("EXISTS", "relay:{s:\(broken)}:part:out:part-0"), .integer(0),
                       "the failed append's X-Part-Id is not claimed")
        try client.checked("DEL", stream)
        let retried = try api.append(broken, "out", "r0", partId: "part-0")
        XCTAssertEqual(retried.status, 200)
        XCTAssertEqual(try retried.json()["seq"], 1)
        XCTAssertNotEqual(try retried.json()["duplicate"], true, "the retry is the first append that took")
        XCTAssertEqual(try api.drain(broken, "out").json()["records"]?.arrayValue?.count, 1)
    }

    /// The row's updatedAt moves on every append (docs/API.md), though appends no longer write
    /// it: it is read as the later of the row's own and its channels' last record times.
    func testUpdatedAtMovesOnEveryAppend() throws {
        let created = try createSession(externalId: unique("chat"))
        let session = try XCTUnwrap(created["id"]?.stringValue)
        var last = try XCTUnwrap(RFC3339.parse(created["updatedAt"]?.stringValue ?? ""))
        for io in ["out", "in", "out"] {
            // Let the clock pass the last millisecond first (not a synchronisation: time has to move).
            Thread.sleep(forTimeInterval: 0.01)
            XCTAssertEqual(try api.append(session, io, "x").status, 200)
            let updated = try XCTUnwrap(RFC3339.parse(try retrieveSession(session)["updatedAt"]?.stringValue ?? ""))
            XCTAssertGreaterThan(updated, last, "an append to .\(io) moves updatedAt")
            last = updated
        }
    }

    /// .in appends that find no current run, sent together: exactly one triggers a run (each
    /// append in a group sees the run the one before it set), and every one is stored.
    func testInputAppendsSentTogetherTriggerExactlyOneRun() throws {
        let created = try createSession(externalId: unique("chat"))
        let session = try XCTUnwrap(created["id"]?.stringValue)
        let firstRun = try XCTUnwrap(created["runId"]?.stringValue)
        _ = try waitForDispatchedRun(firstRun)
        XCTAssertEqual(try api.completeRun(firstRun).status, 200)

        let seqs = try concurrentMap(20, threads: 20) { i -> Int? in
            try self.api.append(session, "in", "m\(i)").json()["seq"]?.intValue
        }
        XCTAssertEqual(Set(seqs.compactMap { $0 }), Set(1...20), "twenty inputs, twenty seqs")
        let current = try XCTUnwrap(try retrieveSession(session)["currentRunId"]?.stringValue, "an input started a run")
        XCTAssertNotEqual(current, firstRun)
        _ = try waitForDispatchedRun(current)
        XCTAssertEqual(try dispatchedRuns(forSession: session).map { $0.fields["runId"] ?? "" }, [firstRun, current],
                       "one continuation run for twenty inputs")
    }
}
