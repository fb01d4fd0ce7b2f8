// In-memory stand-ins for what the fan-out talks to: the channel log (XRANGE reads), the pub/sub
// connection and a subscriber's HTTP output. Reads stay pending until the test answers them,
// like Redis replies that arrive on a later loop iteration.
import RelayCore
@testable import RelayHTTP
@testable import RelayIO
@testable import RelayRedis
@testable import RelayStorage
import XCTest

func record(_ seq: UInt64) -> StoredRecord {
    StoredRecord(seq: seq, data: Array("\"r\(seq)\"".utf8), headers: nil)
}

final class FakeLog: ChannelLog {
    struct Read {
        let channel: String
        let after: UInt64
        let count: Int
        let completion: (Result<ChannelPage, APIError>) -> Void
    }

    /// Each channel's records, by channel name.
    var records: [String: [StoredRecord]] = [:]
    var closed: [String: UInt64] = [:]
    private(set) var pending: [Read] = []
    private(set) var readCount = 0

    func channelName(session: String, io: ChannelIO) -> String { "ch:\(session):\(io.rawValue)" }

    func append(_ channel: String, _ seqs: ClosedRange<UInt64>) {
        records[channel, default: []] += seqs.map(record)
    }

    /// A generation change: the records after `kept` are gone, a loss marker takes `marker`.
    func loseHistory(_ channel: String, after kept: UInt64, marker: UInt64? = nil) {
        records[channel] = (records[channel] ?? []).filter { $0.seq <= kept }
        if let marker { records[channel, default: []].append(StoredRecord(seq: marker, lostAfter: kept)) }
    }

    func range(session: String, io: ChannelIO, after: UInt64, count: Int,
               _ completion: @escaping (Result<ChannelPage, APIError>) -> Void) {
        readCount += 1
        pending.append(Read(channel: channelName(session: session, io: io), after: after, count: count, completion: completion))
    }

    func closedState(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64?, APIError>) -> Void) {
        completion(.success(closed[channelName(session: session, io: io)]))
    }

    /// Answers the oldest pending read from the log as it is now, or as it was when it held
    /// nothing after `upTo` (a read that reached Redis before later appends).
    @discardableResult
    func answerNext(upTo limit: UInt64 = .max, file: StaticString = #filePath, line: UInt = #line) -> [UInt64] {
        guard !pending.isEmpty else {
            XCTFail("no read pending", file: file, line: line)
            return []
        }
        let read = pending.removeFirst()
        let held = records[read.channel] ?? []
        let found = held.filter { $0.seq > read.after && $0.seq <= limit }.prefix(read.count)
        let last = min(held.last?.seq ?? 0, limit)
        read.completion(.success(ChannelPage(records: Array(found), last: last, highWatermark: min(last, limit))))
        return found.map(\.seq)
    }

    func failNext(file: StaticString = #filePath, line: UInt = #line) {
        guard !pending.isEmpty else { return XCTFail("no read pending", file: file, line: line) }
        pending.removeFirst().completion(.failure(.internalError("redis unreachable")))
    }

    /// The `after` of each pending read.
    var pendingAfters: [UInt64] { pending.map(\.after) }
}

final class FakePubSub: PubSubChannels {
    var isConnected = true
    var onConnected: [() -> Void] = []
    var onDisconnected: [() -> Void] = []
    private var handlers: [String: (PubSubEvent) -> Void] = [:]
    private(set) var subscribes: [String] = []
    private(set) var unsubscribes: [String] = []

    func subscribe(_ channel: String, _ handler: @escaping (PubSubEvent) -> Void) {
        guard isConnected else { return handler(.connectionLost) }
        subscribes.append(channel)
        handlers[channel] = handler
    }

    func unsubscribe(_ channel: String) {
        unsubscribes.append(channel)
        handlers.removeValue(forKey: channel)?(.unsubscribed)
    }

    func isSubscribed(_ channel: String) -> Bool { handlers[channel] != nil }

    /// Redis confirms the SUBSCRIBE.
    func confirm(_ channel: String) { handlers[channel]?(.subscribed) }

    /// A live message as the append script publishes it: "SEQ D|C|x\n<the stored field>"
    /// (the data JSON of a record, the headers JSON of a control record, nothing for x).
    /// "d" and "c" are the previous version's form, with the whole record JSON.
    /// A loss marker at `seq`: records after `after` and before `seq` may have been lost.
    func publishLoss(_ channel: String, _ seq: UInt64, after: UInt64) {
        handlers[channel]?(.message(Array("\(seq) L\n\(after)".utf8)))
    }

    func publish(_ channel: String, _ seq: UInt64, kind: Character = "D") {
        let stored = record(seq)
        let field: [UInt8]
        switch kind {
        case "x": field = []
        case "d", "c": field = stored.json(includeSeqNum: false)
        case "C": field = stored.headers ?? []
        default: field = stored.data ?? []
        }
        handlers[channel]?(.message(Array("\(seq) \(kind)\n".utf8) + field))
    }

    /// The connection drops: subscriptions report `.connectionLost`, then `onDisconnected` runs
    /// (the order of RedisNode and ShardedPubSub).
    func drop() {
        isConnected = false
        let lost = handlers
        handlers = [:]
        lost.values.forEach { $0(.connectionLost) }
        onDisconnected.forEach { $0() }
    }

    func reconnect() {
        isConnected = true
        onConnected.forEach { $0() }
    }
}

final class FakeOutput: SubscriberOutput {
    private var streaming = false
    private var answered = false
    var isStreaming: Bool { streaming && !answered }
    var isAnswered: Bool { answered }
    var unsentBytes = 0
    /// Bytes the "socket" accepts per write; nil: everything.
    var socketTakes: Int?
    private(set) var status: Int?
    private(set) var headers: [(String, String)] = []
    private(set) var body: [UInt8] = []
    private(set) var frames: [SharedFrame] = []
    private(set) var writeCalls = 0
    private(set) var endedCleanly = false
    private(set) var aborted = false
    private var onClose: (() -> Void)?

    func respond(status: Int, headers: [(String, String)], body: [UInt8]) {
        guard !answered, !streaming else { return }
        answered = true
        self.status = status
        self.headers = headers
        self.body = body
    }

    func startStream(status: Int, headers: [(String, String)], onClose: @escaping () -> Void) {
        guard !answered, !streaming else { return }
        self.status = status
        self.headers = headers
        streaming = true
        self.onClose = onClose
    }

    func write(_ frames: [SharedFrame]) -> Int {
        guard isStreaming, !frames.isEmpty else { return 0 }
        writeCalls += 1
        self.frames += frames
        let bytes = frames.reduce(0) { $0 + $1.chunkedCount }
        if let socketTakes { unsentBytes += max(0, bytes - socketTakes) }
        return unsentBytes
    }

    func endStream() {
        guard isStreaming else { return }
        endedCleanly = true
        answered = true
        onClose = nil
    }

    /// streamIdle calls (the hub found the stream idle before a ping).
    var idleCalls = 0
    func streamIdle() { idleCalls += 1 }

    func abort() {
        guard isStreaming else { return }
        aborted = true
        answered = true
        onClose = nil
    }

    /// The client goes away.
    func clientLeaves() {
        answered = true
        let callback = onClose
        onClose = nil
        callback?()
    }

    /// Everything written, as text.
    var text: String {
        frames.map { frame in
            String(decoding: UnsafeRawBufferPointer(start: frame.bytes + frame.payloadOffset, count: frame.count), as: UTF8.self)
        }.joined()
    }

    /// The ids of the records written, in order.
    var ids: [UInt64] {
        text.split(separator: "\n").compactMap { line in
            line.hasPrefix("id: ") ? UInt64(line.dropFirst(4)) : nil
        }
    }

    func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
}
