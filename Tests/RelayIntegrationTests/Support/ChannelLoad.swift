// ChannelLoad.swift: a publisher and subscriber load on several sessions' `.out` channels
// across relay nodes, and the checks that nothing acknowledged was lost, duplicated or
// reordered. The chaos tests (ClusterFailoverTests, ClusterReshardTests) break Redis while it
// runs; ChannelLoadSelfTests runs it undisturbed.
//
// - Subscribers: one SSE stream per (node, session), opened before the first append and read on
//   its own thread until the session's end marker arrives; the stream must stay open throughout.
// - Publishers: one thread per session, `partsPerSession` parts, one after another, each with
//   X-Part-Id, retried on 503 or a connection error (alternating nodes) until acknowledged or
//   `partDeadline` passes. Every attempt is timed: none may take longer than `slowAttempt`.
// - `finish` appends each session's end marker, waits for every subscriber to reach it, and
//   `verify` checks: every part acknowledged, seqs increasing; every subscriber got every
//   acknowledged record exactly once (its seq, its body), ids strictly increasing; the drain
//   (GET records) has the same.

import XCTest
import Foundation

final class ChannelLoad {
    struct Settings {
        var partsPerSession = 240
        /// Pause between one session's parts (load shaping, not synchronisation).
        var interval: TimeInterval = 0.02
        /// How long one part may take to be acknowledged, retries included.
        var partDeadline: TimeInterval = 60
        /// The longest any single append attempt may take (a 503 must come back, not hang).
        var slowAttempt: TimeInterval = 5
        /// How long subscribers may take to reach the end markers after the last part.
        var deliveryDeadline: TimeInterval = 30
    }

    struct Ack {
        let part: Int
        let body: String
        let seq: Int
    }

    struct Attempt {
        let session: String
        let part: Int
        let port: UInt16
        let seconds: TimeInterval
        /// "200", "503", "HTTP 500", "error: ...".
        let outcome: String
    }

    static let endMarker = "end-of-load"

    let sessions: [String]
    let apis: [RelayAPI]
    let settings: Settings
    private let lock = NSLock()
    private var acks: [String: [Ack]] = [:]
    private var attempts: [Attempt] = []
    private var failures: [String] = []
    private var subscribers: [Subscriber] = []
    private let publishers = DispatchGroup()
    private var stopped = false

    init(sessions: [String], apis: [RelayAPI], settings: Settings = Settings()) {
        self.sessions = sessions
        self.apis = apis
        self.settings = settings
        for session in sessions { acks[session] = [] }
    }

    static func body(session index: Int, part: Int) -> String { "s\(index)-part-\(part)" }

    // MARK: Running

    /// Opens every subscriber stream (on this thread) and starts reading each on its own thread.
    func openSubscribers(streamTimeoutSeconds: Int = 120) throws {
        let overall = Deadline.after(settings.partDeadline * 4 + settings.deliveryDeadline)
        for api in apis {
            for session in sessions {
                let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", String(streamTimeoutSeconds))])
                guard stream.status == 200 else {
                    throw HarnessError("subscribe to \(session) on node \(api.port): HTTP \(stream.status)")
                }
                let subscriber = Subscriber(session: session, port: api.port, stream: stream)
                subscribers.append(subscriber)
                subscriber.start(until: overall)
            }
        }
    }

    /// Starts one publisher thread per session.
    func startPublishers() {
        for (index, session) in sessions.enumerated() {
            publishers.enter()
            Thread { [self] in
                defer { publishers.leave() }
                for part in 0..<settings.partsPerSession where !isStopped {
                    guard let ack = appendUntilAcknowledged(session, part: part, body: Self.body(session: index, part: part),
                                                            partId: "part-\(part)") else { return }
                    lock.lock()
                    acks[session, default: []].append(ack)
                    lock.unlock()
                    Thread.sleep(forTimeInterval: settings.interval)
                }
            }.start()
        }
    }

    /// Makes the publishers give up at their next step (a test that ends early calls it).
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func acknowledgedCount(_ session: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return acks[session]?.count ?? 0
    }

    /// The seq of `session`'s last acknowledged part (nil: none yet).
    func lastAcknowledgedSeq(_ session: String) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        return acks[session]?.last?.seq
    }

    /// The highest record id each subscriber of `session` received so far (nil: none yet).
    func receivedIds(_ session: String) -> [(port: UInt16, lastId: Int?)] {
        subscribers.filter { $0.session == session }.map { ($0.port, $0.lastId) }
    }

    /// Waits until `count` parts of `session` are acknowledged (the moment to break something).
    func waitForAcknowledged(_ session: String, count: Int, timeout: TimeInterval = 60) throws {
        try waitUntil(timeout: timeout, interval: 0.01, "\(count) acknowledged parts on \(session) (failures: \(failureList()))") {
            acknowledgedCount(session) >= count || publishersDone
        }
    }

    private var publishersDone: Bool { publishers.wait(timeout: .now()) == .success }

    /// Waits for every publisher to finish (each part acknowledged or given up on).
    func waitForPublishers() throws {
        let bound = settings.partDeadline * 2 + Double(settings.partsPerSession) * (settings.interval + 1)
        guard publishers.wait(timeout: .now() + bound) == .success else {
            throw HarnessError("publishers not done within \(Int(bound)) s; acknowledged: "
                + sessions.map { "\($0): \(acknowledgedCount($0))" }.joined(separator: ", "))
        }
    }

    /// Appends each session's end marker and waits (bounded) for every subscriber to reach it;
    /// what does not happen is reported by `problems`.
    func finish() {
        for session in sessions {
            guard let ack = appendUntilAcknowledged(session, part: -1, body: Self.endMarker, partId: "end") else { continue }
            lock.lock()
            acks[session, default: []].append(ack)
            lock.unlock()
        }
        let deadline = Deadline.after(settings.deliveryDeadline)
        for subscriber in subscribers where !subscriber.waitUntilDone(deadline: deadline) {
            fail("subscriber of \(subscriber.session) on node \(subscriber.port) did not reach the end marker within"
                + " \(Int(settings.deliveryDeadline)) s; last id \(subscriber.lastId.map(String.init) ?? "none")")
        }
    }

    /// One part, retried on 503 and connection errors (alternating nodes) until acknowledged.
    private func appendUntilAcknowledged(_ session: String, part: Int, body: String, partId: String) -> Ack? {
        let deadline = Deadline.after(settings.partDeadline)
        var attempt = 0
        var last = ""
        while true {
            let api = apis[(max(part, 0) + attempt) % apis.count]
            let began = Date()
            var outcome: String
            var seq: Int?
            do {
                let response = try api.append(session, "out", body, partId: partId)
                outcome = response.status == 200 || response.status == 503 ? String(response.status) : "HTTP \(response.description)"
                if response.status == 200 {
                    seq = try response.json()["seq"]?.intValue
                    if seq == nil { outcome = "200 without a seq: \(response.text)" }
                }
            } catch {
                outcome = "error: \(error)"
            }
            record(Attempt(session: session, part: part, port: api.port, seconds: Date().timeIntervalSince(began), outcome: outcome))
            if let seq { return Ack(part: part, body: body, seq: seq) }
            last = outcome
            attempt += 1
            if !(outcome == "503" || outcome.hasPrefix("error: ")) {
                fail("\(session) \(partId): answered \(outcome) (only 503 or a lost connection may be retried)")
                return nil
            }
            if isStopped { return nil }
            if deadline.hasPassed {
                fail("\(session) \(partId): not acknowledged within \(Int(settings.partDeadline)) s after \(attempt) attempts; last: \(last)")
                return nil
            }
            Thread.sleep(forTimeInterval: 0.1)  // a client's retry pause
        }
    }

    private func record(_ attempt: Attempt) {
        lock.lock()
        attempts.append(attempt)
        lock.unlock()
    }

    private func fail(_ message: String) {
        lock.lock()
        failures.append(message)
        lock.unlock()
    }

    private func failureList() -> String {
        lock.lock()
        defer { lock.unlock() }
        return failures.isEmpty ? "none" : failures.prefix(5).joined(separator: "; ")
    }

    // MARK: Checking

    /// Every problem found (empty: every acknowledged record reached every subscriber and the
    /// drain exactly once, in order, and no attempt hung). `drainWith` reads GET records.
    func problems(drainWith api: RelayAPI) throws -> [String] {
        lock.lock()
        var problems = failures
        let acksNow = acks
        let attemptsNow = attempts
        lock.unlock()

        for session in sessions {
            let acked = acksNow[session] ?? []
            if acked.count != settings.partsPerSession + 1 {
                problems.append("\(session): \(acked.count) of \(settings.partsPerSession) parts and the end marker acknowledged")
            }
            for (previous, next) in zip(acked, acked.dropFirst()) where next.seq <= previous.seq {
                problems.append("\(session): part \(next.part) acknowledged as seq \(next.seq), after part \(previous.part) as \(previous.seq)")
            }
            for subscriber in subscribers where subscriber.session == session {
                let name = "\(session) via node \(subscriber.port)"
                if let error = subscriber.error { problems.append("\(name): \(error)") }
                problems += Self.deliveryProblems(name, acked: acked, received: subscriber.received)
            }
            problems += Self.deliveryProblems("\(session) drain", acked: acked, received: try drain(session, with: api))
        }

        let slow = attemptsNow.filter { $0.seconds > settings.slowAttempt }
        for attempt in slow.prefix(10) {
            problems.append("an append attempt hung: \(attempt.session) part \(attempt.part) on node \(attempt.port) took "
                + String(format: "%.1f", attempt.seconds) + " s (\(attempt.outcome))")
        }
        return problems
    }

    /// What happened to the appends, for the test's log.
    func summary() -> String {
        lock.lock()
        defer { lock.unlock() }
        let retried = attempts.filter { $0.outcome != "200" }
        let unavailable = retried.filter { $0.outcome == "503" }
        let longest = attempts.map(\.seconds).max() ?? 0
        let longestRetried = retried.map(\.seconds).max() ?? 0
        return "\(attempts.count) append attempts for \(acks.values.map(\.count).reduce(0, +)) acknowledged records;"
            + " \(unavailable.count) answered 503, \(retried.count - unavailable.count) lost the connection;"
            + " longest attempt " + String(format: "%.2f", longest) + " s, longest failed attempt "
            + String(format: "%.2f", longestRetried) + " s"
    }

    /// Problems with one subscriber's (or the drain's) records against the acknowledged ones.
    static func deliveryProblems(_ name: String, acked: [Ack], received: [(id: Int, body: String)]) -> [String] {
        var problems: [String] = []
        for (previous, next) in zip(received, received.dropFirst()) where next.id <= previous.id {
            problems.append("\(name): id \(next.id) after \(previous.id) (out of order or twice)")
            break
        }
        var byId: [Int: String] = [:]
        var copies: [String: Int] = [:]
        for record in received {
            byId[record.id] = record.body
            copies[record.body, default: 0] += 1
        }
        var missing: [Int] = []
        for ack in acked {
            if byId[ack.seq] != ack.body {
                if byId[ack.seq] == nil { missing.append(ack.seq) } else {
                    problems.append("\(name): seq \(ack.seq) is \(byId[ack.seq]!.debugDescription), acknowledged as \(ack.body.debugDescription)")
                }
            } else if let count = copies[ack.body], count > 1 {
                problems.append("\(name): \(ack.body) received \(count) times")
            }
        }
        if !missing.isEmpty {
            problems.append("\(name): \(missing.count) acknowledged records missing, seqs \(missing.prefix(10))\(missing.count > 10 ? "…" : "")")
        }
        return problems
    }

    /// Every record of `session`'s `.out`, paging GET records.
    private func drain(_ session: String, with api: RelayAPI) throws -> [(id: Int, body: String)] {
        var records: [(id: Int, body: String)] = []
        var after = 0
        for _ in 0..<100 {
            let response = try api.drain(session, "out", query: [("afterEventId", String(after)), ("limit", "1000")])
            guard response.status == 200 else { throw HarnessError("drain \(session): \(response)") }
            let page = try response.json()
            for record in page["records"]?.arrayValue ?? [] {
                guard let id = record["id"]?.intValue else { throw HarnessError("drain \(session): a record without id: \(record)") }
                records.append((id, record["data"]?.stringValue ?? record["data"].map(\.serialized) ?? ""))
                after = id
            }
            if page["hasMore"] != true { return records }
        }
        throw HarnessError("drain \(session): more than 100 pages")
    }
}

/// One SSE stream read on its own thread until the end marker.
private final class Subscriber {
    let session: String
    let port: UInt16
    private let stream: SSEConnection
    private let lock = NSLock()
    private var records: [(id: Int, body: String)] = []
    private var failure: String?
    private let done = DispatchSemaphore(value: 0)

    init(session: String, port: UInt16, stream: SSEConnection) {
        self.session = session
        self.port = port
        self.stream = stream
    }

    var received: [(id: Int, body: String)] { lock.lock(); defer { lock.unlock() }; return records }
    var error: String? { lock.lock(); defer { lock.unlock() }; return failure }
    var lastId: Int? { received.last?.id }

    func start(until deadline: Deadline) {
        Thread { [self] in
            defer { done.signal() }
            do {
                while true {
                    let wait = max(0.1, Double(deadline.pollMilliseconds) / 1000)
                    guard let event = try stream.nextDataEvent(timeout: wait) else {
                        throw HarnessError("the stream ended after id \(lastId.map(String.init) ?? "none") (it must stay open)")
                    }
                    guard let idText = event.id, let id = Int(idText) else { continue }  // not a record
                    let data = try event.json()["data"]
                    let body = data?.stringValue ?? data.map(\.serialized) ?? ""
                    lock.lock()
                    records.append((id, body))
                    lock.unlock()
                    if body == ChannelLoad.endMarker { break }
                }
            } catch {
                lock.lock()
                failure = "\(error)"
                lock.unlock()
            }
            stream.close()
        }.start()
    }

    /// True once the reader stopped (end marker, or an error it recorded) before `deadline`.
    func waitUntilDone(deadline: Deadline) -> Bool {
        guard done.wait(timeout: .now() + Double(deadline.pollMilliseconds) / 1000) == .success else { return false }
        done.signal()  // later waits return at once
        return true
    }
}
