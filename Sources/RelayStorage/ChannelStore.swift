// ChannelStore: records in Redis streams (docs/API.md, Channels). Appends go to Redis in groups
// (AppendGroups: one script call for the appends of a loop iteration), an S2 batch as one call;
// reads (drain, catch-up, gap fill) are plain XRANGE on the stream.
import Glibc
import RelayCore
import RelayIO
import RelayRedis

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
    private let groups: AppendGroups

    /// Shares the session store's name cache and outbox forwarder.
    public init(loop: EventLoop, redis: any RedisCommands, sessions: SessionStore, settings: ChannelSettings) {
        self.redis = redis
        self.keys = sessions.keys
        self.settings = settings
        self.names = sessions.names
        self.sessions = sessions
        let groups = AppendGroups(loop: loop, redis: redis, settings: settings)
        self.groups = groups
        // A close or an update of a session goes to Redis after the appends received before it.
        sessions.beforeSessionWrite = { groups.flush() }
    }

    /// append_records.lua calls made so far, and the appends they carried.
    public var appendGroupTotals: (calls: Int, appends: Int) { (groups.calls, groups.appendsSent) }

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
            Array(env.id.utf8), Array(session.utf8), Array(io.rawValue.utf8), data, headers, Array((partId ?? "").utf8),
            // Only an .in record can trigger a run.
            io == .input ? Array(FriendlyID.run().utf8) : [], addInEventId ? [0x31] : [0x30], addLastEventId ? [0x31] : [0x30],
        ]
        runAppend(env, session, io,
                  send: { [keys, groups] id, scriptKeys, unconfirmed, done in
                      // append_records.lua names a part key exactly when the X-Part-Id is not empty.
                      let partId = partId?.isEmpty == false ? partId : nil
                      let partKey = partId.map { [Array(keys.part(session: id, io: io, partId: $0).utf8)] } ?? []
                      groups.submit(AppendGroups.Append(keys: scriptKeys + partKey, args: args, unconfirmed: unconfirmed, completion: done))
                  },
                  decode: { (reply: AppendRecordReply) in
                      switch reply {
                      case .appended(let seq, let duplicate, let entry):
                          return .appended(through: seq, outboxEntry: entry, AppendResult(seq: seq, duplicate: duplicate))
                      case .notFound: return .notFound
                      case .closed: return .refused(Self.closedRefusal)
                      case .expired: return .refused(Self.expiredRefusal)
                      }
                  }, completion)
    }

    /// What an append script's reply means to `runAppend`.
    enum AppendOutcome<T> {
        /// Written through `seq` (with read-committed delivery, the commit follows); `outboxEntry`:
        /// a run the append triggered, forwarded before the caller is answered.
        case appended(through: UInt64, outboxEntry: String?, T)
        case notFound
        case refused(APIError)
    }

    /// How an append reaches Redis: with the session's id and the script's first KEYS (meta, the
    /// stream, the outbox), `unconfirmed` for a reply replicas did not confirm, `done` for the reply.
    typealias AppendSend = (_ id: String, _ keys: [[UInt8]], _ unconfirmed: @escaping (RedisReply) -> Void,
                            _ done: @escaping (RedisReply) -> Void) -> Void

    /// Runs an append on the session's channel (`send`), commits what it wrote with
    /// read-committed delivery, forwards the outbox entry.
    private func runAppend<Reply: ScriptReply, T>(_ env: RelayEnvironment, _ session: String, _ io: ChannelIO,
                                                  send: @escaping AppendSend,
                                                  decode: @escaping (Reply) -> AppendOutcome<T>,
                                                  _ completion: @escaping (Result<T, APIError>) -> Void) {
        names.withSession(env: env.id, session, notFound: { .failure(.notFound("Session not found")) }, { [weak self] id, done in
            guard let self else { return }
            let outbox = self.keys.outbox(session: id)
            let scriptKeys = [self.keys.sessionMeta(id), self.keys.channel(session: id, io: io), outbox]
            // A write replicas did not confirm in time is on the primary all the same: its outbox
            // entry (a triggered run, an index state) is forwarded as usual, then the 503.
            let unconfirmed = { (written: RedisReply) in
                if let reply = try? Reply(written), case .appended(_, let entry?, _) = decode(reply) {
                    self.sessions.forwardThen(entry, outbox: outbox) {}
                }
            }
            send(id, scriptKeys.map { Array($0.utf8) }, unconfirmed) { reply in
                switch reply.decoded(as: Reply.self).map(decode) {
                case .failure(let error): done(.failure(error), false)
                case .success(.appended(let seq, let entry, let value)):
                    self.commit(session: id, io: io, through: seq) { refusal in
                        // Replicas hold the record; if the commit itself failed, the next one
                        // (any later append's) uncovers it: the append still answers 503. A
                        // session closed meanwhile never shows it: its streams ended before it.
                        if let refusal { return done(.failure(refusal), false) }
                        self.sessions.forwardThen(entry, outbox: outbox) { done(.success(value), false) }
                    }
                case .success(.notFound): done(.failure(.notFound("Session not found")), true)
                case .success(.refused(let error)): done(.failure(error), false)
                }
            }
        }, completion)
    }

    /// Appends a batch of records at once (the S2 records API): consecutive seqs, one time.
    /// `records`: each record's packed fields (see append_batch.lua), command and its argument.
    public func appendBatch(in env: RelayEnvironment, session: String, io: ChannelIO, records: [S2StoredRecord],
                            matchSeqNum: UInt64?, fencingToken: String?,
                            _ completion: @escaping (Result<AppendBatchResult, APIError>) -> Void) {
        var args: [[UInt8]] = [
            Array(env.id.utf8), Array(session.utf8), Array(io.rawValue.utf8),
            Array(String(settings.maxRecordsPerChannel).utf8), io == .input ? Array(FriendlyID.run().utf8) : [],
            settings.waitReplicas > 0 ? [0x31] : [0x30],
            matchSeqNum.map { Array(String($0).utf8) } ?? [],
            fencingToken.map { [UInt8(ascii: "=")] + Array($0.utf8) } ?? [],
            Array(String(records.count).utf8),
        ]
        args.reserveCapacity(args.count + 3 * records.count)
        for record in records {
            args.append(record.packedFields)
            args.append(Array(record.command.utf8))
            args.append(record.commandArgument)
        }
        runAppend(env, session, io,
                  send: { [redis, settings, groups] _, keys, unconfirmed, done in
                      groups.flush()   // after the appends received before it
                      redis.run(RelayScripts.appendBatch, keys: keys, args, waitReplicas: settings.waitReplicas,
                                unconfirmed: unconfirmed, done)
                  },
                  decode: { (reply: AppendBatchReply) in
                      switch reply {
                      case .appended(let first, let last, let time, let entry):
                          return .appended(through: last, outboxEntry: entry,
                                           AppendBatchResult(firstSeq: first, lastSeq: last, time: time))
                      case .notFound: return .notFound
                      case .closed: return .refused(Self.closedRefusal)
                      case .expired: return .refused(Self.expiredRefusal)
                      case .seqMismatch(let next): return .refused(.seqNumMismatch(expected: next))
                      case .fenced(let held): return .refused(.fencingTokenMismatch(held: held))
                      }
                  }, completion)
    }

    private static let closedRefusal = APIError.badRequest("Cannot append to a closed session")
    private static let expiredRefusal = APIError.badRequest("Cannot append to an expired session")

    /// Read-committed delivery (`waitReplicas` > 0): replicas confirmed the channel's records
    /// through `seq`, so readers may see them now (commit_records.lua publishes them). Without
    /// replicas to wait for, the append script published the record itself.
    private func commit(session: String, io: ChannelIO, through seq: UInt64, _ done: @escaping (APIError?) -> Void) {
        guard settings.waitReplicas > 0 else { return done(nil) }
        let keys = [keys.sessionMeta(session), keys.channel(session: session, io: io)]
        redis.run(RelayScripts.commitRecords, keys: keys, [io.rawValue, String(seq)]) { reply in
            switch reply.decoded(as: CommitRecordsReply.self) {
            case .failure(let error): done(error)
            case .success(.closed): done(Self.closedRefusal)
            case .success(.expired): done(Self.expiredRefusal)
            case .success(.published): done(nil)
            }
        }
    }

    /// Records with seq > `after` up to the high watermark, at most `count`, oldest first, and
    /// where the channel ends.
    public func range(session: String, io: ChannelIO, after: UInt64, count: Int,
                      _ completion: @escaping (Result<ChannelPage, APIError>) -> Void) {
        let keys = [keys.sessionMeta(session), keys.channel(session: session, io: io)]
        redis.run(RelayScripts.readChannel, keys: keys, [io.rawValue, String(after), String(count)]) { reply in
            completion(reply.decoded(as: ReadChannelReply.self).map(\.page))
        }
    }

    /// The channel's last visible sequence number if the session is closed or expired, nil if open.
    public func closedState(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64?, APIError>) -> Void) {
        range(session: session, io: io, after: 0, count: 0) { result in
            completion(result.map { $0.ended ? $0.highWatermark : nil })
        }
    }

    /// The channel's last visible sequence number (0: empty), whatever the session's state.
    public func lastSeq(session: String, io: ChannelIO, _ completion: @escaping (Result<UInt64, APIError>) -> Void) {
        range(session: session, io: io, after: 0, count: 0) { result in completion(result.map(\.highWatermark)) }
    }

    /// The channel's last visible record among its last four entries, passing over S2 command
    /// records (a trim follows each turn-complete that the Trigger.dev SDK writes) and loss markers.
    public func lastRecord(session: String, io: ChannelIO, _ completion: @escaping (Result<StoredRecord?, APIError>) -> Void) {
        lastSeq(session: session, io: io) { [redis, keys] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(0): completion(.success(nil))
            case .success(let last):
                let key = keys.channel(session: session, io: io)
                redis.send(key: key, ["XREVRANGE", key, "0-\(last)", "-", "COUNT", "4"]) { reply in
                    if let error = reply.apiError { return completion(.failure(error)) }
                    completion(.success(ChannelStore.records(from: reply.array ?? []).first { !$0.isCommand && !$0.isLossMarker }))
                }
            }
        }
    }

    /// The drain of docs/API.md, Channels: up to `limit` records after `after`, whether more
    /// follow, and where the channel ends.
    public func drain(session: String, io: ChannelIO, after: UInt64, limit: Int,
                      _ completion: @escaping (Result<(page: ChannelPage, hasMore: Bool), APIError>) -> Void) {
        range(session: session, io: io, after: after, count: limit + 1) { result in
            completion(result.map { page in
                var shown = page
                shown.records = Array(page.records.prefix(limit))
                return (shown, page.records.count > limit)
            })
        }
    }

    static func records<Entries: Collection>(from entries: Entries) -> [StoredRecord] where Entries.Element == RedisReply {
        var records: [StoredRecord] = []
        records.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string,
                  let dash = id.firstIndex(of: "-"), let seq = UInt64(id[id.index(after: dash)...]) else { continue }
            var record = StoredRecord(seq: seq)
            parts[1].forEachField { name, value in
                guard case .bulk(let name) = name, case .bulk(let value) = value else { return }
                record.set(field: name, value[...])
            }
            record.fieldsDone()
            records.append(record)
        }
        return records
    }
}
