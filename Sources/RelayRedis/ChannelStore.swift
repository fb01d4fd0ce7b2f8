// ChannelStore: records in Redis streams (docs/API.md, Channels). Appends are one script call each;
// reads (drain, catch-up, gap fill) are plain XRANGE on the stream.
import Glibc
import RelayCore
import RelayIO

/// A record as stored: its sequence number and either the data JSON or the control headers.
public struct StoredRecord: Equatable, Sendable {
    public var seq: UInt64
    /// The record's `data` as JSON text (the body itself, or the body as a JSON string).
    public var data: [UInt8]?
    /// A control record's headers as a JSON array text.
    public var headers: [UInt8]?

    public var isControl: Bool { headers != nil }

    /// `{"data":...,"id":N[,"seqNum":N][,"headers":[...]]}`
    /// A control record whose `trigger-control` header is `turn-complete`: the task finished
    /// its turn, nothing more comes until the next `.in` message.
    public var isTurnComplete: Bool {
        guard let headers, let text = String(validating: headers, as: UTF8.self) else { return false }
        return text.hasPrefix(#"[["trigger-control","turn-complete"]"#)
    }

    public func json(includeSeqNum: Bool) -> [UInt8] {
        RecordEncoding.json(id: seq, dataJSON: data, headersJSON: headers, includeSeqNum: includeSeqNum)
    }
}

public struct AppendResult: Equatable, Sendable {
    public var seq: UInt64
    public var duplicate: Bool
}

public struct ChannelSettings: Sendable {
    public var maxRecordsPerChannel: Int
    public var dedupWindowSeconds: Int
    /// Replicas that must confirm an append before it is acknowledged (WAIT; 0: none).
    public var waitReplicas: Int
    public init(maxRecordsPerChannel: Int = 10_000, dedupWindowSeconds: Int = 86_400, waitReplicas: Int = 0) {
        self.maxRecordsPerChannel = maxRecordsPerChannel
        self.dedupWindowSeconds = dedupWindowSeconds
        self.waitReplicas = waitReplicas
    }
}

public final class ChannelStore {
    private let redis: any RedisCommands
    public let keys: RedisKeys
    public let settings: ChannelSettings
    private let names: SessionResolver
    private let sessions: SessionStore

    /// Shares the session store's name cache and outbox forwarder.
    public init(redis: any RedisCommands, sessions: SessionStore, settings: ChannelSettings) {
        self.redis = redis
        self.keys = sessions.keys
        self.settings = settings
        self.names = sessions.names
        self.sessions = sessions
    }

    /// Appends a data record. `dataJSON` is the record's `data` already encoded (decided once).
    public func append(in env: RelayEnvironment, session: String, io: ChannelIO, dataJSON: [UInt8], partId: String?,
                       _ completion: @escaping (Result<AppendResult, APIError>) -> Void) {
        run(env, session, io, data: dataJSON, headers: [], partId: partId, addInEventId: false, addLastEventId: false, completion)
    }

    /// Appends a control record with the given headers (a JSON array text, at least one pair).
    public func appendControl(in env: RelayEnvironment, session: String, headersJSON: [UInt8],
                              addInEventId: Bool, addLastEventId: Bool,
                              _ completion: @escaping (Result<AppendResult, APIError>) -> Void) {
        run(env, session, .output, data: [], headers: headersJSON, partId: nil,
            addInEventId: addInEventId, addLastEventId: addLastEventId, completion)
    }

    private func run(_ env: RelayEnvironment, _ session: String, _ io: ChannelIO, data: [UInt8], headers: [UInt8],
                     partId: String?, addInEventId: Bool, addLastEventId: Bool,
                     _ completion: @escaping (Result<AppendResult, APIError>) -> Void) {
        let args: [[UInt8]] = [
            Array(env.id.utf8), Array(session.utf8), Array(io.rawValue.utf8),
            data, headers, Array((partId ?? "").utf8), Array(String(settings.dedupWindowSeconds).utf8),
            Array(String(settings.maxRecordsPerChannel).utf8), Array(FriendlyID.run().utf8),
            addInEventId ? [0x31] : [0x30], addLastEventId ? [0x31] : [0x30],
        ]
        names.withSession(env: env.id, session, notFound: { .failure(.notFound("Session not found")) }, { [weak self] id, done in
            guard let self else { return }
            let outbox = self.keys.outbox(session: id)
            var scriptKeys = [self.keys.sessionMeta(id), self.keys.channel(session: id, io: io), outbox]
            if let partId { scriptKeys.append(self.keys.part(session: id, io: io, partId: partId)) }
            // A write replicas did not confirm in time is on the primary all the same: its outbox
            // entry (a triggered run, an index state) is forwarded as usual, then the 503.
            let unconfirmed = { (written: RedisReply) in self.sessions.forwardThen(written, outbox: outbox, entryIndex: 3) {} }
            self.redis.run(RelayScripts.appendRecord, keys: scriptKeys.map { Array($0.utf8) }, args,
                           waitReplicas: self.settings.waitReplicas, unconfirmed: unconfirmed) { reply in
                if let error = reply.apiError { return done(.failure(error), false) }
                guard let items = reply.array, let status = items.first?.string else {
                    return done(.failure(.internalError("unexpected reply from append_record")), false)
                }
                switch status {
                case "ok":
                    let seq = items.count > 1 ? UInt64(items[1].int ?? 0) : 0
                    let appended = AppendResult(seq: seq, duplicate: items.count > 2 && items[2].int == 1)
                    self.sessions.forwardThen(reply, outbox: outbox, entryIndex: 3) { done(.success(appended), false) }
                case "notfound": done(.failure(.notFound("Session not found")), true)
                case "closed": done(.failure(.badRequest("Cannot append to a closed session")), false)
                case "expired": done(.failure(.badRequest("Cannot append to an expired session")), false)
                default: done(.failure(.internalError("unexpected reply from append_record")), false)
                }
            }
        }, completion)
    }

    /// Records with seq > `after`, at most `count`, oldest first.
    public func range(session: String, io: ChannelIO, after: UInt64, count: Int,
                      _ completion: @escaping (Result<[StoredRecord], APIError>) -> Void) {
        let key = keys.channel(session: session, io: io)
        redis.send(key: key, ["XRANGE", key, "(0-\(after)", "+", "COUNT", String(count)]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            completion(.success(ChannelStore.records(from: reply)))
        }
    }

    /// The channel's last sequence number if the session is closed or expired, nil if open.
    public func closedState(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64?, APIError>) -> Void) {
        let key = keys.sessionMeta(session)
        redis.send(key: key, ["HMGET", key, "closedAt", "expiresAt", "seq:\(io.rawValue)"]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            let fields = reply.array ?? []
            let closed = fields.count > 0 && !(fields[0].string ?? "").isEmpty
            let expired = fields.count > 1 && (fields[1].int.map { $0 <= Int64(Clock.nowMilliseconds()) } ?? false)
            let last = fields.count > 2 ? UInt64(fields[2].int ?? 0) : 0
            completion(.success(closed || expired ? last : nil))
        }
    }

    /// The channel's last sequence number (0: empty), whatever the session's state.
    public func lastSeq(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64, APIError>) -> Void) {
        let key = keys.sessionMeta(session)
        redis.send(key: key, ["HGET", key, "seq:\(io.rawValue)"]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            completion(.success(reply.int.map { UInt64(max(0, $0)) } ?? 0))
        }
    }

    /// The channel's last record, if any.
    public func lastRecord(session: String, io: ChannelIO, _ completion: @escaping (Result<StoredRecord?, APIError>) -> Void) {
        let key = keys.channel(session: session, io: io)
        redis.send(key: key, ["XREVRANGE", key, "+", "-", "COUNT", "1"]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            completion(.success(ChannelStore.records(from: reply).first))
        }
    }

    /// The drain of docs/API.md, Channels: up to `limit` records after `after`, and whether more follow.
    public func drain(session: String, io: ChannelIO, after: UInt64, limit: Int,
                      _ completion: @escaping (Result<(records: [StoredRecord], hasMore: Bool), APIError>) -> Void) {
        range(session: session, io: io, after: after, count: limit + 1) { result in
            completion(result.map { records in (Array(records.prefix(limit)), records.count > limit) })
        }
    }

    static func records(from reply: RedisReply) -> [StoredRecord] {
        guard let entries = reply.array else { return [] }
        var records: [StoredRecord] = []
        records.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string,
                  let dash = id.firstIndex(of: "-"), let seq = UInt64(id[id.index(after: dash)...]) else { continue }
            var record = StoredRecord(seq: seq)
            parts[1].forEachField { name, value in
                guard case .bulk(let name) = name, case .bulk(let value) = value else { return }
                if name == [UInt8(ascii: "d")] { record.data = value }
                if name == [UInt8(ascii: "h")] { record.headers = value }
            }
            records.append(record)
        }
        return records
    }
}

