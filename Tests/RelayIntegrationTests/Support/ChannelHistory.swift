// ChannelHistory.swift: what readers of a channel got, for the tests of issue 15 ("history that
// never lies": docs/API.md, History guarantees), and the checks that it never lied.
//
// - `HistoryItem`: one record, loss signal (`event: lost`, with an id for a loss marker of the
//   channel, without one for a resume point past the channel's end) or gap, parsed strictly from
//   an SSE event or a drain record.
// - `HistoryReader`: one SSE subscriber on its own thread that reconnects (with `Last-Event-ID`,
//   as EventSource does) whenever its stream ends or fails, optionally also every
//   `resumeEvery` records or `resumeEverySeconds` (so it catches up from the log often), until a
//   record with the end body arrives.
// - `DrainPoller`: a client that polls GET records from its last id (and is told `lost` past the
//   end), on its own thread, until the end body.
// - `drainHistory`: every item of a channel, paging GET records with afterEventId.
// - `HistoryCheck`: compares what each reader saw, what the appends were answered and the final
//   drain (guarantees 1-4 of issue 15). ChannelHistorySelfTests feeds it the issue's bugs.

import XCTest
import Foundation

enum HistoryItem: Equatable, CustomStringConvertible {
    case record(id: Int, body: String)
    /// `id` nil: the past-end form (nothing of the channel, only a signal to this reader).
    case lost(id: Int?, after: Int, before: Int)
    case gap(requested: Int, firstAvailable: Int)

    var id: Int? {
        switch self {
        case .record(let id, _): return id
        case .lost(let id, _, _): return id
        case .gap: return nil
        }
    }

    /// The open range (after, before) a loss signal says is gone.
    var lostRange: (after: Int, before: Int)? {
        if case .lost(_, let after, let before) = self { return (after, before) }
        return nil
    }

    var isRecord: Bool { if case .record = self { return true }; return false }

    var description: String {
        switch self {
        case .record(let id, let body): return "\(id)=\(body.debugDescription)"
        case .lost(let id, let after, let before): return "lost\(id.map { "@\($0)" } ?? "")(\(after)..<\(before))"
        case .gap(let requested, let first): return "gap(\(requested)->\(first))"
        }
    }

    static let maxSafeInteger = 9_007_199_254_740_991  // 2^53 - 1

    /// A record's body: its `data` string, or the JSON of any other `data`.
    static func body(of data: JSON?) -> String { data?.stringValue ?? data.map(\.serialized) ?? "" }

    /// The item an SSE event carries; nil for pings and the opening `retry:`. Anything that does
    /// not follow the documented shapes throws, quoting the event.
    static func parse(_ event: SSEEvent) throws -> HistoryItem? {
        if event.carriesNoEvent { return nil }
        let json = try event.json()
        switch event.event {
        case "lost":
            guard let lost = json["lost"], let after = lost["after"]?.intValue, let before = lost["before"]?.intValue,
                  json["data"] == .null, after < before else {
                throw HarnessError("malformed `event: lost`: \(event)")
            }
            if json["id"] != nil {
                // A loss marker: {"data":null,"id":B,"lost":{"after":K,"before":B}} under `id: B`.
                guard let idText = event.id, let id = Int(idText), json["id"]?.intValue == id, before == id,
                      Set(json.objectValue?.keys.map { $0 } ?? []) == ["data", "id", "lost"] else {
                    throw HarnessError("malformed loss marker (expected id: B and {\"data\":null,\"id\":B,\"lost\":{\"after\":K,\"before\":B}}): \(event)")
                }
                return .lost(id: id, after: after, before: before)
            }
            // Past the end: {"data":null,"lost":{"after":E,"before":N+1}} under `id: E` (where the
            // channel ends: the position to resume from).
            guard event.id == String(after), Set(json.objectValue?.keys.map { $0 } ?? []) == ["data", "lost"] else {
                throw HarnessError("malformed past-end `event: lost` (expected id: E and {\"data\":null,\"lost\":{\"after\":E,...}}): \(event)")
            }
            return .lost(id: nil, after: after, before: before)
        case "gap":
            guard let requested = json["requested"]?.intValue, let first = json["firstAvailable"]?.intValue else {
                throw HarnessError("malformed `event: gap`: \(event)")
            }
            return .gap(requested: requested, firstAvailable: first)
        default:
            guard let idText = event.id, let id = Int(idText) else { throw HarnessError("an SSE event with data but no id: \(event)") }
            guard json["id"]?.intValue == id else { throw HarnessError("an SSE record whose JSON id differs from its id line: \(event)") }
            return .record(id: id, body: body(of: json["data"]))
        }
    }

    /// One element of a drain's `records`: a record, or a loss marker
    /// `{"data":null,"id":B,"seqNum":B,"lost":{"after":K,"before":B}}`.
    static func parse(drainRecord record: JSON) throws -> HistoryItem {
        guard let id = record["id"]?.intValue, record["seqNum"]?.intValue == id else {
            throw HarnessError("a drained record without id == seqNum: \(record)")
        }
        if let lost = record["lost"] {
            guard let after = lost["after"]?.intValue, let before = lost["before"]?.intValue, before == id, after < before,
                  record["data"] == .null else {
                throw HarnessError("malformed drained loss marker (expected {\"data\":null,\"id\":B,\"seqNum\":B,\"lost\":{\"after\":K,\"before\":B}}): \(record)")
            }
            return .lost(id: id, after: after, before: before)
        }
        return .record(id: id, body: body(of: record["data"]))
    }
}

/// Every item of `session`'s `io` channel from the start, paging GET records.
func drainHistory(_ api: RelayAPI, _ session: String, _ io: String = "out", pageSize: Int = 1000) throws -> [HistoryItem] {
    var items: [HistoryItem] = []
    var after = 0
    for _ in 0..<1000 {
        let response = try api.drain(session, io, query: [("afterEventId", String(after)), ("limit", String(pageSize))])
        guard response.status == 200 else { throw HarnessError("drain \(session) after \(after): \(response)") }
        let page = try response.json()
        if let lost = page["lost"] { throw HarnessError("a full drain was told of a loss past the end after \(after): \(lost)") }
        for record in page["records"]?.arrayValue ?? [] {
            let item = try HistoryItem.parse(drainRecord: record)
            if let id = item.id {
                guard id > after else { throw HarnessError("drain \(session): id \(id) after \(after)") }
                after = id
            }
            items.append(item)
        }
        if page["hasMore"] != true { return items }
    }
    throw HarnessError("drain \(session): more than 1000 pages")
}

/// One subscriber on its own thread, reconnecting with Last-Event-ID until the end body arrives.
final class HistoryReader {
    let name: String
    let api: RelayAPI
    let session: String
    let io: String
    let endBody: String
    /// Close and resume (with Last-Event-ID) after this many records on one connection.
    let resumeEvery: Int?
    /// Close and resume after this long on one connection.
    let resumeEverySeconds: TimeInterval?
    private let lock = NSLock()
    private var log: [HistoryItem] = []
    private var notes: [String] = []
    private var connections = 0
    private var finished = false
    private var stopRequested = false
    private let done = DispatchSemaphore(value: 0)

    init(name: String, api: RelayAPI, session: String, io: String = "out", endBody: String, resumeEvery: Int? = nil,
         resumeEverySeconds: TimeInterval? = nil) {
        self.resumeEverySeconds = resumeEverySeconds
        self.name = name
        self.api = api
        self.session = session
        self.io = io
        self.endBody = endBody
        self.resumeEvery = resumeEvery
    }

    var items: [HistoryItem] { lock.lock(); defer { lock.unlock() }; return log }
    var reachedEnd: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return connections }
    /// Why streams ended or could not open, in order (for failure messages).
    var reconnectNotes: [String] { lock.lock(); defer { lock.unlock() }; return notes }
    var lastRecordId: Int? { items.last { $0.isRecord }?.id }

    /// Opens the first stream on this thread (so a fixture problem fails at once), then reads
    /// on a thread of its own until the end body or `deadline`.
    func start(until deadline: Deadline) throws {
        let first = try api.subscribe(session, io, headers: [("Timeout-Seconds", "120")])
        guard first.status == 200 else { throw HarnessError("\(name): subscribe answered \(first.status)") }
        Thread { [self] in
            defer { done.signal() }
            run(first: first, deadline: deadline)
        }.start()
    }

    func stop() { lock.lock(); stopRequested = true; lock.unlock() }
    private var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested || finished }

    /// True once the reader stopped before `deadline`.
    func waitUntilDone(deadline: Deadline) -> Bool {
        guard done.wait(timeout: .now() + Double(deadline.pollMilliseconds) / 1000) == .success else { return false }
        done.signal()
        return true
    }

    private func note(_ text: String) { lock.lock(); notes.append(text); lock.unlock() }

    private func run(first: SSEConnection, deadline: Deadline) {
        var stream: SSEConnection? = first
        var lastEventId: Int?  // the last `id:` seen, as EventSource keeps it
        while !shouldStop && !deadline.hasPassed {
            if stream == nil {
                do {
                    var headers = [("Timeout-Seconds", "120")]
                    if let lastEventId { headers.append(("Last-Event-ID", String(lastEventId))) }
                    let opened = try api.subscribe(session, io, headers: headers, timeout: 5)
                    if opened.status == 200 {
                        stream = opened
                    } else {
                        note("reopen after \(lastEventId.map(String.init) ?? "start"): HTTP \(opened.status)")
                        opened.close()
                    }
                } catch {
                    note("reopen after \(lastEventId.map(String.init) ?? "start"): \(error)")
                }
                if stream == nil { Thread.sleep(forTimeInterval: 0.1); continue }  // EventSource's retry pause
            }
            guard let current = stream else { continue }
            lock.lock(); connections += 1; lock.unlock()
            var recordsOnThisConnection = 0
            let planned = resumeEverySeconds.map { Deadline.after($0) }
            let connectionDeadline = planned.map { $0.uptimeNanoseconds < deadline.uptimeNanoseconds ? $0 : deadline } ?? deadline
            do {
                while !connectionDeadline.hasPassed {
                    guard let event = try current.nextDataEvent(timeout: max(0.05, Double(connectionDeadline.pollMilliseconds) / 1000)) else {
                        note("stream ended after \(lastEventId.map(String.init) ?? "start")")
                        break
                    }
                    guard let item = try HistoryItem.parse(event) else { continue }
                    if let id = item.id { lastEventId = id }
                    lock.lock()
                    log.append(item)
                    if case .record(_, let body) = item, body == endBody { finished = true }
                    lock.unlock()
                    if shouldStop { break }
                    if item.isRecord { recordsOnThisConnection += 1 }
                    if let resumeEvery, recordsOnThisConnection >= resumeEvery { break }
                }
            } catch {
                // A planned resume that came while waiting for an event is no failure.
                if !(planned?.hasPassed ?? false) || deadline.hasPassed {
                    note("stream failed after \(lastEventId.map(String.init) ?? "start"): \(error)")
                }
            }
            current.close()
            stream = nil
        }
    }
}

/// A client that reads a channel by polling GET records from the last id it got, every
/// `interval`, on its own thread, until the end body. Past the end it is told `lost` (kept as a
/// past-end item) and keeps asking from the same id, as an SSE client keeps its Last-Event-ID.
final class DrainPoller {
    let name: String
    let apis: [RelayAPI]
    let session: String
    let endBody: String
    let interval: TimeInterval
    private let lock = NSLock()
    private var log: [HistoryItem] = []
    /// Answers that were neither a well-formed 200 nor a 503.
    private var notes: [String] = []
    private var polls = 0
    private var finished = false
    private var stopRequested = false
    private let done = DispatchSemaphore(value: 0)

    init(name: String, apis: [RelayAPI], session: String, endBody: String, interval: TimeInterval = 0.02) {
        self.name = name
        self.apis = apis
        self.session = session
        self.endBody = endBody
        self.interval = interval
    }

    var items: [HistoryItem] { lock.lock(); defer { lock.unlock() }; return log }
    var reachedEnd: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var pollCount: Int { lock.lock(); defer { lock.unlock() }; return polls }
    var failureNotes: [String] { lock.lock(); defer { lock.unlock() }; return notes }
    var lastRecordId: Int? { items.last { $0.isRecord }?.id }

    func stop() { lock.lock(); stopRequested = true; lock.unlock() }
    private var shouldStop: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested || finished }

    func start(until deadline: Deadline) {
        Thread { [self] in
            defer { done.signal() }
            var position = 0
            var index = 0
            while !shouldStop && !deadline.hasPassed {
                let api = apis[index % apis.count]
                index += 1
                var hasMore = false
                let response: HTTPResponse
                do {
                    response = try api.drain(session, "out", query: [("afterEventId", String(position)), ("limit", "100")])
                } catch {
                    Thread.sleep(forTimeInterval: interval)  // a lost connection: a client's retry pause
                    continue
                }
                lock.lock(); polls += 1; lock.unlock()
                do {
                    if response.status == 200 {
                        let page = try response.json()
                        var items: [HistoryItem] = []
                        if let lost = page["lost"] {
                            guard let after = lost["after"]?.intValue, let before = lost["before"]?.intValue, after < before,
                                  page["records"]?.arrayValue?.isEmpty == true, page["hasMore"] == false else {
                                throw HarnessError("malformed past-end drain answer: \(page)")
                            }
                            items.append(.lost(id: nil, after: after, before: before))
                        }
                        for record in page["records"]?.arrayValue ?? [] {
                            let item = try HistoryItem.parse(drainRecord: record)
                            if let id = item.id { position = id }
                            items.append(item)
                        }
                        hasMore = page["hasMore"] == true
                        lock.lock()
                        log += items
                        if items.contains(where: { if case .record(_, let body) = $0 { return body == endBody }; return false }) { finished = true }
                        lock.unlock()
                    } else if response.status != 503 {
                        throw HarnessError("HTTP \(response.description)")
                    }
                } catch {
                    lock.lock(); notes.append("after \(position): \(error)"); lock.unlock()
                }
                if !hasMore { Thread.sleep(forTimeInterval: interval) }  // a polling client's pace
            }
        }.start()
    }

    func waitUntilDone(deadline: Deadline) -> Bool {
        guard done.wait(timeout: .now() + Double(deadline.pollMilliseconds) / 1000) == .success else { return false }
        done.signal()
        return true
    }
}

/// The checks of issue 15 over everything observed of one channel.
struct HistoryCheck {
    struct Observer {
        let name: String
        /// What it received, in order.
        let items: [HistoryItem]
        /// It read everything after this id (0: from the start).
        let startAfter: Int
        /// It reached the channel's end (the end record); `held == drain` is only required then.
        let reachedEnd: Bool
    }

    struct Ack: CustomStringConvertible {
        let seq: Int
        let body: String
        var description: String { "\(seq)=\(body.debugDescription)" }
    }

    var drain: [HistoryItem]
    var observers: [Observer]
    /// Every append answered 200 (seq, body), in no particular order; `publisherAcks` for the
    /// per-publisher order.
    var publisherAcks: [[Ack]]
    /// RELAY_REDIS_WAIT_REPLICAS >= 1: nothing seen or acknowledged may vanish.
    var readCommitted: Bool

    /// What an observer holds after applying each loss signal to the records it held then.
    static func held(_ items: [HistoryItem]) -> [HistoryItem] {
        var held: [HistoryItem] = []
        for item in items {
            if let range = item.lostRange {
                held.removeAll { ($0.id ?? 0) > range.after && ($0.id ?? 0) < range.before }
            }
            if item.id != nil { held.append(item) }
        }
        return held
    }

    /// The (record) ids an observer saw that a loss signal it received later covers.
    static func droppedIds(_ items: [HistoryItem]) -> Set<Int> {
        var dropped: Set<Int> = []
        var seen: [Int] = []
        for item in items {
            if let range = item.lostRange {
                for id in seen where id > range.after && id < range.before { dropped.insert(id) }
            }
            if item.isRecord, let id = item.id { seen.append(id) }
        }
        return dropped
    }

    private static func list<T>(_ values: [T], _ limit: Int = 8) -> String {
        values.prefix(limit).map { "\($0)" }.joined(separator: ", ") + (values.count > limit ? ", … (\(values.count) in all)" : "")
    }

    func problems() -> [String] {
        var problems: [String] = []
        let allAcks = publisherAcks.flatMap { $0 }

        // The drain itself: ids strictly increasing and below 2^53, each body once, each marker
        // right after the last item it keeps.
        var drainRecords: [Int: String] = [:]
        var drainMarkers: [Int: (after: Int, before: Int)] = [:]
        var previous: Int?
        var bodies: [String: [Int]] = [:]
        for item in drain {
            guard let id = item.id else { problems.append("drain: a non-record item \(item)"); continue }
            if let previous, id <= previous { problems.append("drain: id \(id) after \(previous)") }
            if id > HistoryItem.maxSafeInteger { problems.append("drain: id \(id) is not below 2^53") }
            switch item {
            case .record(_, let body):
                drainRecords[id] = body
                bodies[body, default: []].append(id)
            case .lost(_, let after, let before):
                drainMarkers[id] = (after, before)
                if after != (previous ?? 0) {
                    problems.append("drain: marker \(item) says the channel kept up to \(after), but the item before it is \(previous.map(String.init) ?? "none")")
                }
            case .gap: break
            }
            previous = id
        }
        let duplicated = bodies.filter { $0.value.count > 1 }.sorted { $0.value[0] < $1.value[0] }
        if !duplicated.isEmpty {
            problems.append("drain: \(duplicated.count) bodies stored more than once: "
                + Self.list(duplicated.map { "\($0.key.debugDescription) at \($0.value)" }))
        }

        // Every loss signal anyone got says its range holds nothing: the drain must agree.
        var ranges: [(who: String, after: Int, before: Int)] = drainMarkers.map { ("drain marker \($0.key)", $0.value.after, $0.value.before) }
        for observer in observers {
            for item in observer.items { if let r = item.lostRange { ranges.append((observer.name, r.after, r.before)) } }
        }
        var inLostRange: [String] = []
        for (id, body) in drainRecords.sorted(by: { $0.key < $1.key }) {
            if let range = ranges.first(where: { id > $0.after && id < $0.before }) {
                inLostRange.append("\(id)=\(body.debugDescription) inside lost range \(range.after)..<\(range.before) (\(range.who))")
            }
        }
        if !inLostRange.isEmpty {
            problems.append("guarantee 1/3: \(inLostRange.count) drained records lie inside a range a loss signal said is gone: \(Self.list(inLostRange))")
        }

        // Guarantee 1: a seq names one record for every observer.
        var names: [Int: [String: [String]]] = [:]  // seq -> body -> who
        func observe(_ seq: Int, _ body: String, _ who: String) { names[seq, default: [:]][body, default: []].append(who) }
        for (id, body) in drainRecords { observe(id, body, "drain") }
        for id in drainMarkers.keys { observe(id, "<loss marker>", "drain") }
        for ack in allAcks { observe(ack.seq, ack.body, "append answer") }
        var excused = 0
        for observer in observers {
            let dropped = Self.droppedIds(observer.items)
            for item in observer.items {
                guard let id = item.id else { continue }
                let body: String
                switch item {
                case .record(_, let b): body = b
                case .lost: body = "<loss marker>"
                case .gap: continue
                }
                if dropped.contains(id) {
                    // It must drop what a later signal covers; a conflict there is not its to report.
                    if let other = names[id], other.keys.contains(where: { $0 != body }) { excused += 1 }
                    continue
                }
                observe(id, body, observer.name)
            }
        }
        let reused = names.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
        if !reused.isEmpty {
            problems.append("guarantee 1: \(reused.count) seqs name two different records: "
                + Self.list(reused.map { seq, byBody in
                    "\(seq): " + byBody.map { "\($0.key.debugDescription) (\(Set($0.value).sorted().joined(separator: ", ")))" }.joined(separator: " vs ")
                }, 5))
        }
        if excused > 0 { print("HistoryCheck: \(excused) conflicting observations excused (inside a range the observer was later told is lost)") }

        // Guarantee 5: acks below 2^53, strictly increasing per publisher.
        for (index, acks) in publisherAcks.enumerated() {
            for (a, b) in zip(acks, acks.dropFirst()) where b.seq <= a.seq {
                problems.append("publisher \(index): \(b) acknowledged after \(a)")
                break
            }
            if let big = acks.first(where: { $0.seq > HistoryItem.maxSafeInteger }) { problems.append("publisher \(index): \(big) is not below 2^53") }
        }

        // Guarantee 2: after applying its loss signals, each observer holds exactly the drain
        // from where it started, in order, no duplicates, no skips.
        for observer in observers {
            let held = Self.held(observer.items)
            let expected = drain.filter { ($0.id ?? 0) > observer.startAfter }
            let gaps = observer.items.filter { if case .gap = $0 { return true }; return false }
            if !gaps.isEmpty { problems.append("\(observer.name): unexpected gap events \(Self.list(gaps))") }
            for (a, b) in zip(held, held.dropFirst()) where (b.id ?? 0) <= (a.id ?? 0) {
                problems.append("guarantee 2: \(observer.name) holds \(b) after \(a) (out of order or twice)")
                break
            }
            if !observer.reachedEnd {
                problems.append("\(observer.name): never reached the end record (\(observer.items.count) items, last \(observer.items.last.map(String.init(describing:)) ?? "none"))")
                continue
            }
            if held != expected {
                let heldIds = Set(held.compactMap(\.id)), expectedIds = Set(expected.compactMap(\.id))
                let missing = expected.filter { !heldIds.contains($0.id ?? -1) }
                let extra = held.filter { !expectedIds.contains($0.id ?? -1) }
                let firstDifference = zip(held, expected).enumerated().first { $0.element.0 != $0.element.1 }
                problems.append("guarantee 2: \(observer.name) holds \(held.count) items, the drain has \(expected.count) after \(observer.startAfter);"
                    + " \(missing.count) drained items never delivered (skipped): [\(Self.list(missing))];"
                    + " \(extra.count) held items not in the drain (kept without a loss signal): [\(Self.list(extra))]"
                    + (firstDifference.map { "; first difference at #\($0.offset): held \($0.element.0), drain \($0.element.1)" } ?? ""))
            }
        }

        // Guarantee 3 (and 4 with WAIT >= 1): what an observer saw and the drain lacks.
        for observer in observers {
            let dropped = Self.droppedIds(observer.items)
            var vanished: [HistoryItem] = []
            for item in observer.items {
                guard case .record(let id, let body) = item else { continue }
                if drainRecords[id] != body { vanished.append(item) }
            }
            guard !vanished.isEmpty else { continue }
            let unsignalled = vanished.filter { !dropped.contains($0.id ?? -1) }
            let lostEvents = observer.items.filter { $0.lostRange != nil }.count
            if readCommitted {
                problems.append("guarantee 4 (read-committed): \(observer.name) saw \(vanished.count) records that are not in the drain"
                    + " (\(lostEvents) lost events received): [\(Self.list(vanished))]")
            } else if !unsignalled.isEmpty {
                problems.append("guarantee 3: \(observer.name) saw \(vanished.count) records that are not in the drain, \(unsignalled.count)"
                    + " of them never covered by a loss signal it received afterwards (\(lostEvents) lost events in all): [\(Self.list(unsignalled))]")
            }
        }

        // Acknowledged appends: all in the drain with WAIT >= 1; with WAIT 0 each one missing lies
        // in a loss marker's range.
        let missingAcks = allAcks.filter { drainRecords[$0.seq] != $0.body }.sorted { $0.seq < $1.seq }
        if readCommitted {
            if !missingAcks.isEmpty {
                problems.append("guarantee 4 (read-committed): \(missingAcks.count) of \(allAcks.count) acknowledged appends are not in the drain at their seq: [\(Self.list(missingAcks))]")
            }
        } else {
            let unmarked = missingAcks.filter { ack in !drainMarkers.values.contains { ack.seq > $0.after && ack.seq < $0.before } }
            if !unmarked.isEmpty {
                problems.append("guarantee 3: \(unmarked.count) acknowledged appends vanished from the drain with no loss marker covering them: [\(Self.list(unmarked))]")
            }
        }
        return problems
    }

    /// Counts for the test's log.
    func summary() -> String {
        let markers = drain.filter { $0.lostRange != nil }
        let allAcks = publisherAcks.flatMap { $0 }
        let drainRecords = Dictionary(drain.compactMap { item -> (Int, String)? in
            if case .record(let id, let body) = item { return (id, body) }; return nil
        }, uniquingKeysWith: { a, _ in a })
        let lostAcks = allAcks.filter { drainRecords[$0.seq] != $0.body }.count
        return "drain: \(drain.count - markers.count) records, markers \(markers.map(\.description));"
            + " \(allAcks.count) appends acknowledged, \(lostAcks) of them not in the drain; "
            + observers.map { observer in
                let lost = observer.items.filter { $0.lostRange != nil }
                let dropped = Self.droppedIds(observer.items).count
                return "\(observer.name): \(observer.items.count) items, lost events \(lost.map(\.description)), \(dropped) records dropped"
            }.joined(separator: "; ")
    }
}
