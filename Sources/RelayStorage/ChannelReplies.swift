// The replies of the channel scripts ChannelStore runs (append, commit, read), decoded once
// (see ScriptReply).
import RelayIO
import RelayRedis

/// One append's reply in append_records.lua's (AppendGroups hands each append its own):
///     { "ok", seq, 0 | 1 (duplicate), outbox entry or "" } | { "notfound" } | { "closed" } | { "expired" }
enum AppendRecordReply: ScriptReply, Equatable {
    /// The record has `seq` (a duplicate X-Part-Id: the first append's seq). `outboxEntry`: a run
    /// the append triggered, forwarded before the caller is answered.
    case appended(seq: UInt64, duplicate: Bool, outboxEntry: String?)
    case notFound
    case closed
    case expired

    static var script: LuaScript { RelayScripts.appendRecords }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok":
            self = .appended(seq: try items.seq(1, "seq"), duplicate: try items.flag(2, "duplicate"),
                             outboxEntry: try items.outboxEntry(3))
        case "notfound": self = .notFound
        case "closed": self = .closed
        case "expired": self = .expired
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// commit_records.lua: how many records were published, or -1 (the session is closed), -2 (expired)
enum CommitRecordsReply: ScriptReply, Equatable {
    case published(Int64)
    case closed
    case expired

    static var script: LuaScript { RelayScripts.commitRecords }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        switch reply {
        case .integer(-1): self = .closed
        case .integer(-2): self = .expired
        case .integer(let count) where count >= 0: self = .published(count)
        default: throw ScriptReplyError(script: Self.script.name, problem: "not a count, -1 or -2", reply: reply)
        }
    }
}

/// read_channel.lua:
///     { last seq (0: none), last visible seq, 1 if the session is closed or expired else 0,
///       the last record time, entry... } with each entry as XRANGE gives it
struct ReadChannelReply: ScriptReply, Equatable {
    var page: ChannelPage

    static var script: LuaScript { RelayScripts.readChannel }

    init(page: ChannelPage) { self.page = page }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        let last = try items.integer(0, "last seq"), visible = try items.integer(1, "last visible seq")
        let ended = try items.flag(2, "ended")
        let time = try items.integer(3, "last record time")
        // An entry of another shape is skipped, as in every stream read (ChannelStore.records).
        page = ChannelPage(records: ChannelStore.records(from: items.elements(from: 4)),
                           last: UInt64(max(0, last)), highWatermark: UInt64(max(0, visible)), ended: ended)
        page.lastTime = UInt64(max(0, time))
    }
}

/// append_batch.lua:
///     { "ok", first seq, last seq, record time, outbox entry or "" } | { "notfound" } | { "closed" } |
///     { "expired" } | { "seqmismatch", next seq } | { "fenced", the token held }
enum AppendBatchReply: ScriptReply, Equatable {
    case appended(first: UInt64, last: UInt64, time: UInt64, outboxEntry: String?)
    case notFound
    case closed
    case expired
    case seqMismatch(next: UInt64)
    case fenced(held: String)

    static var script: LuaScript { RelayScripts.appendBatch }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok":
            self = .appended(first: try items.seq(1, "first seq"), last: try items.seq(2, "last seq"),
                             time: UInt64(max(0, try items.integer(3, "time"))), outboxEntry: try items.outboxEntry(4))
        case "notfound": self = .notFound
        case "closed": self = .closed
        case "expired": self = .expired
        case "seqmismatch": self = .seqMismatch(next: try items.seq(1, "next seq"))
        case "fenced": self = .fenced(held: try items.string(1, "token"))
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}
