// ClusterLostHistoryTests.swift: issue 15's scripted failover ("history that never lies").
// Two relay nodes on a Redis Cluster of their own; on each, three subscribers of one session's
// `.out` (a steady one, one that resumes with Last-Event-ID every 40 records, one every 0.3 s),
// and a client polling GET records on both; four publishers, each retrying its X-Part-Id on 503 or a lost connection. Then, as an operator
// would: the replica of the session's primary stalls (SIGSTOP) and its link is cut (`CLIENT KILL
// TYPE replica` on the primary), appends go on for a second, the primary is SIGKILLed, the
// replica resumed (it is promoted) and the old primary restarted (it rejoins as a replica);
// appends go on after. At the end every (seq, record) each subscriber saw, every append's answer
// and a full drain are compared (HistoryCheck): a seq never names two records; each subscriber,
// once it drops what its `event: lost` signals cover, holds exactly the drain; what vanished was
// signalled (WAIT 0); nothing seen or acknowledged vanished (WAIT 1, read-committed).
// Cluster mode only (see ClusterChaosTestCase); scripts/failover-soak runs them N times.

import XCTest
import Foundation

/// WAIT 0 (the default): unreplicated writes are lost with the primary, and must be signalled.
final class ClusterLostHistoryTests: ClusterLostHistoryTestCase {
    func testFailoverWithUnreplicatedWritesSignalsTheLossAndNeverReusesASeq() throws {
        try runScriptedFailover(readCommitted: false)
    }
}

/// WAIT 1: read-committed, so nothing a subscriber saw or an append acknowledged may vanish.
final class ClusterLostHistoryReadCommittedTests: ClusterLostHistoryTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_REDIS_WAIT_REPLICAS": "1"] }

    func testFailoverWithWait1LosesNothingSeenOrAcknowledged() throws {
        try runScriptedFailover(readCommitted: true)
    }

    /// A record written while the replica was away (503, never shown) and confirmed only after
    /// the session closed does not join the channel: its subscribers were told where it ends.
    /// The retry answers 400 and the channel still ends where the close said.
    func testARecordConfirmedAfterTheCloseIsNeverShown() throws {
        let api = apis[0]
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "out", "first", partId: "first").status, 200)
        let primary = try cluster.owner(ofSession: session)
        let replica = try XCTUnwrap(try cluster.replicaPorts(of: primary).first)
        try cluster.stop(port: replica)
        let refused = try api.append(session, "out", "late", partId: "late")
        XCTAssertEqual(refused.status, 503, refused.description)
        XCTAssertEqual(try api.closeSession(session).status, 200)
        try cluster.cont(port: replica)
        let retried = try api.append(session, "out", "late", partId: "late")
        XCTAssertEqual(retried.status, 400, "confirmed after the close: not part of the channel: \(retried)")
        let records = try XCTUnwrap(try api.drain(session, "out").json()["records"]?.arrayValue)
        XCTAssertEqual(records.compactMap { $0["id"]?.intValue }, [1])
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "10")])
        XCTAssertEqual(try stream.nextDataEvent()?.id, "1")
        XCTAssertNil(try stream.nextDataEvent(timeout: 5), "a closed session's stream ends after record 1")
    }
}

class ClusterLostHistoryTestCase: ClusterChaosTestCase {
    static let endBody = "end-of-history"

    func runScriptedFailover(readCommitted: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let began = Date()
        func elapsed() -> String { String(format: "%.1f s", Date().timeIntervalSince(began)) }
        let overall = Deadline.after(85)
        let session = try apis[0].newSession()
        let primary = try cluster.owner(ofSession: session)
        let replicas = try cluster.replicaPorts(of: primary)
        guard replicas.count == 1, let replica = replicas.first else {
            throw HarnessError("primary \(primary) should have one replica, has \(replicas)")
        }

        // On each node: a steady subscriber, one that resumes every 40 records, one that resumes
        // every 0.3 s (so it catches up from the log throughout the chaos); and a client that
        // polls GET records on both nodes.
        let readers = apis.enumerated().flatMap { index, api in
            [HistoryReader(name: "node\(index + 1)-steady", api: api, session: session, endBody: Self.endBody),
             HistoryReader(name: "node\(index + 1)-resuming", api: api, session: session, endBody: Self.endBody, resumeEvery: 40),
             HistoryReader(name: "node\(index + 1)-reconnecting", api: api, session: session, endBody: Self.endBody, resumeEverySeconds: 0.3)]
        }
        let poller = DrainPoller(name: "drain-poller", apis: apis, session: session, endBody: Self.endBody)
        let publishers = RetryingPublishers(apis: apis, session: session, count: 4)
        defer {
            publishers.stop()
            readers.forEach { $0.stop() }
            poller.stop()
        }
        for reader in readers { try reader.start(until: overall) }
        poller.start(until: overall)
        publishers.start()
        try waitUntil(timeout: 20, interval: 0.01, "200 acknowledged appends before the chaos (\(publishers.failureList))") {
            publishers.totalAcks >= 200
        }

        // The replica stalls and its link is cut: what the primary writes from now on exists
        // only there.
        try cluster.stop(port: replica)
        let admin = try cluster.nodeClient(port: primary)
        let cut = try admin.checked("CLIENT", "KILL", "TYPE", "replica").integer
        admin.close()
        guard cut == 1 else { throw HarnessError("CLIENT KILL TYPE replica on \(primary) killed \(cut.map(String.init) ?? "?") links, not 1") }
        let acksAtCut = publishers.totalAcks
        let unavailableAtCut = publishers.outcomeCount("503")
        let seqAtCut = publishers.highestSeq
        Thread.sleep(forTimeInterval: 1)  // load shaping: appends go on for a second with the link cut
        if readCommitted {
            // Each append waits out WAIT's timeout (1 s) before its 503: go on until every
            // publisher was refused once (its record is written on the primary, never
            // confirmed), and the log was read after that by the poller and by the subscribers
            // that reconnect every 0.3 s, so a reader that could see unconfirmed records would.
            try waitUntil(timeout: 15, "every publisher to be answered 503 while the link is cut") {
                publishers.outcomeCount("503") - unavailableAtCut >= publishers.count
            }
            let polls = poller.pollCount
            let connections = readers.map(\.connectionCount)
            try waitUntil(timeout: 10, "the log to be read after the refusals") {
                poller.pollCount >= polls + 5 && zip(readers, connections).allSatisfy { reader, count in
                    reader.resumeEverySeconds == nil || reader.connectionCount >= count + 2
                }
            }
        }
        let acksInWindow = publishers.totalAcks - acksAtCut
        let seqBeforeKill = publishers.highestSeq
        let unavailableInWindow = publishers.outcomeCount("503") - unavailableAtCut
        if !readCommitted {
            XCTAssertGreaterThan(acksInWindow, 0, "no append was acknowledged while the link was cut: the scenario loses nothing", file: file, line: line)
            // The subscribers have seen those records (they are what the kill loses).
            try waitUntil(timeout: 10, "every subscriber to receive seq \(seqBeforeKill): \(readers.map { "\($0.name)@\($0.lastRecordId ?? 0)" })") {
                readers.allSatisfy { ($0.lastRecordId ?? 0) >= seqBeforeKill }
            }
        }
        try cluster.kill(port: primary)
        try cluster.resume(port: replica)
        let promoted = try cluster.waitForFailover(of: primary)
        XCTAssertEqual(promoted, replica, "the stalled replica was promoted", file: file, line: line)
        print("\(name): [\(elapsed())] link cut after seq \(seqAtCut); \(acksInWindow) appends acknowledged in the second after"
            + " (up to seq \(seqBeforeKill)), \(unavailableInWindow) answered 503; primary \(primary) killed, \(promoted) promoted")
        try cluster.revive(port: primary)
        let acksAtRevive = publishers.totalAcks
        print("\(name): [\(elapsed())] old primary \(primary) rejoined as a replica; \(acksAtRevive) appends acknowledged so far")
        try waitUntil(timeout: 30, interval: 0.01, "100 appends acknowledged after the old primary rejoined (\(publishers.failureList))") {
            publishers.totalAcks >= acksAtRevive + 100
        }
        try publishers.stopAndWait(timeout: 40)
        let end = try publishers.appendOnce(body: Self.endBody, partId: "end", deadline: Deadline.after(30))
        let deliveryDeadline = Deadline.after(20)
        for reader in readers where !reader.waitUntilDone(deadline: deliveryDeadline) {
            XCTFail("\(reader.name) did not reach the end record (seq \(end)) within 20 s; last record \(reader.lastRecordId.map(String.init) ?? "none");"
                + " reconnects: \(reader.reconnectNotes.suffix(5))", file: file, line: line)
        }
        if !poller.waitUntilDone(deadline: deliveryDeadline) {
            XCTFail("the drain poller did not reach the end record (seq \(end)) within 20 s; last record \(poller.lastRecordId.map(String.init) ?? "none")",
                    file: file, line: line)
        }

        let drain = try drainHistory(apis[0], session)
        let otherDrain = try drainHistory(apis[1], session)
        XCTAssertEqual(drain, otherDrain, "both nodes drain the same history", file: file, line: line)
        let check = HistoryCheck(
            drain: drain,
            observers: readers.map { HistoryCheck.Observer(name: $0.name, items: $0.items, startAfter: 0, reachedEnd: $0.reachedEnd) }
                + [HistoryCheck.Observer(name: poller.name, items: poller.items, startAfter: 0, reachedEnd: poller.reachedEnd)],
            publisherAcks: publishers.acks + [[HistoryCheck.Ack(seq: end, body: Self.endBody)]],
            readCommitted: readCommitted)
        let problems = publishers.failures + poller.failureNotes.prefix(5).map { "drain poller: \($0)" } + check.problems()
        print("\(name): [\(elapsed())] \(publishers.summary()); \(check.summary());"
            + " connections per subscriber: \(readers.map { "\($0.name) \($0.connectionCount)" }); \(poller.pollCount) drain polls")
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(30).joined(separator: "\n")
            + relays.map { "\nrelay \($0.port) log tail:\n\($0.logTail(maxBytes: 3_000))" }.joined(), file: file, line: line)
        for relay in relays { XCTAssertTrue(relay.isRunning, "relay \(relay.port) survived the failover", file: file, line: line) }
        XCTAssertLessThan(Date().timeIntervalSince(began), 90, "the scenario stays bounded", file: file, line: line)
    }
}

/// `count` publishers appending parts `p<k>-<i>` (X-Part-Id the same) to one channel, each part
/// retried on 503 or a lost connection, alternating nodes, until acknowledged.
private final class RetryingPublishers {
    let apis: [RelayAPI]
    let session: String
    let count: Int
    var interval: TimeInterval = 0.02
    var partDeadline: TimeInterval = 45
    private let lock = NSLock()
    private var acked: [[HistoryCheck.Ack]]
    private var problems: [String] = []
    private var outcomes: [String: Int] = [:]
    private var longestAttempt: TimeInterval = 0
    private var stopped = false
    private let group = DispatchGroup()

    init(apis: [RelayAPI], session: String, count: Int) {
        self.apis = apis
        self.session = session
        self.count = count
        acked = Array(repeating: [], count: count)
    }

    var acks: [[HistoryCheck.Ack]] { lock.lock(); defer { lock.unlock() }; return acked }
    var totalAcks: Int { acks.reduce(0) { $0 + $1.count } }
    var highestSeq: Int { acks.compactMap { $0.last?.seq }.max() ?? 0 }
    var failures: [String] { lock.lock(); defer { lock.unlock() }; return problems }
    var failureList: String { let f = failures; return f.isEmpty ? "no failures" : f.prefix(3).joined(separator: "; ") }
    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    /// How many attempts ended with `outcome` ("200", "503", "error", "other") so far.
    func outcomeCount(_ outcome: String) -> Int { lock.lock(); defer { lock.unlock() }; return outcomes[outcome] ?? 0 }

    func start() {
        for publisher in 0..<count {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                var part = 0
                while !isStopped {
                    let body = "p\(publisher)-\(part)"
                    guard let seq = try? appendOnce(body: body, partId: body, deadline: Deadline.after(partDeadline), first: publisher + part) else { return }
                    lock.lock()
                    acked[publisher].append(HistoryCheck.Ack(seq: seq, body: body))
                    lock.unlock()
                    part += 1
                    Thread.sleep(forTimeInterval: interval)  // load shaping
                }
            }.start()
        }
    }

    /// Asks the publishers to stop after their current part (each is retried until acknowledged).
    func stop() { lock.lock(); stopped = true; lock.unlock() }

    func stopAndWait(timeout: TimeInterval) throws {
        stop()
        guard group.wait(timeout: .now() + timeout) == .success else {
            throw HarnessError("publishers did not finish their last part within \(timeout) s: \(failureList)")
        }
    }

    /// Appends `body` until a 200 (retrying 503 and lost connections); its seq.
    @discardableResult
    func appendOnce(body: String, partId: String, deadline: Deadline, first: Int = 0) throws -> Int {
        var attempt = 0
        var last = ""
        while true {
            let api = apis[(first + attempt) % apis.count]
            let began = Date()
            var outcome: String
            var seq: Int?
            do {
                let response = try api.append(session, "out", body, partId: partId)
                outcome = String(response.status)
                if response.status == 200 {
                    seq = try response.json()["seq"]?.intValue
                    if seq == nil { outcome = "200 without a seq: \(response.text)" }
                } else if response.status != 503 {
                    outcome = "HTTP \(response.description)"
                }
            } catch {
                outcome = "error"
                last = "\(error)"
            }
            let seconds = Date().timeIntervalSince(began)
            lock.lock()
            outcomes[outcome.hasPrefix("HTTP") ? "other" : outcome, default: 0] += 1
            longestAttempt = max(longestAttempt, seconds)
            lock.unlock()
            if let seq { return seq }
            attempt += 1
            if outcome != "503" && outcome != "error" {
                record("\(partId): answered \(outcome) (only 503 or a lost connection may be retried)")
                throw HarnessError(outcome)
            }
            if outcome == "503" { last = "503" }
            if deadline.hasPassed {
                record("\(partId): not acknowledged in time after \(attempt) attempts; last: \(last)")
                throw HarnessError("\(partId) not acknowledged")
            }
            Thread.sleep(forTimeInterval: 0.1)  // a client's retry pause
        }
    }

    private func record(_ problem: String) { lock.lock(); problems.append(problem); lock.unlock() }

    func summary() -> String {
        lock.lock()
        defer { lock.unlock() }
        return "append attempts by outcome \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }),"
            + " longest " + String(format: "%.2f", longestAttempt) + " s"
    }
}
