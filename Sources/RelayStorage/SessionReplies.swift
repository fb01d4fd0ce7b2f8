// The replies of the session scripts SessionStore runs (create, claim, get, update, close, list),
// each decoded once against its script's `return` (see ScriptReply).
import RelayIO
import RelayRedis

/// A session row as a script that wrote it answers: `{ word, outbox entry or "", HGETALL... }`
/// (create_session, update_session, close_session).
struct SessionRowWrite: Equatable {
    /// The entry the script put in the slot's outbox, forwarded before the caller is answered.
    var outboxEntry: String?
    /// The row after the change (HGETALL).
    var row: [String: String]

    init(outboxEntry: String?, row: [String: String]) {
        self.outboxEntry = outboxEntry
        self.row = row
    }

    init(_ items: ScriptReplyItems) throws(ScriptReplyError) {
        outboxEntry = try items.outboxEntry(1)
        row = items.fields(from: 2)
    }
}

/// create_session.lua:
///     { "created" | "cached", outbox entry or "", HGETALL of the session... }
///     | { "conflict" } | { "taken" } | { "stale" } | { "gone" }
enum CreateSessionReply: ScriptReply, Equatable {
    case created(SessionRowWrite)
    /// The open session the externalId names (a run may have been triggered: the entry).
    case cached(SessionRowWrite)
    /// The session is closed or expired.
    case conflict
    /// The caller may not read that session: nothing was written.
    case taken
    /// The id belongs to another session.
    case stale
    /// The row had to exist and is gone: free the externalId and claim again.
    case gone

    static var script: LuaScript { RelayScripts.createSession }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "created": self = .created(try SessionRowWrite(items))
        case "cached": self = .cached(try SessionRowWrite(items))
        case "conflict": self = .conflict
        case "taken": self = .taken
        case "stale": self = .stale
        case "gone": self = .gone
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// claim_external.lua:
///     { "existing", SID, version of its index state (0: a claim not yet written, -1: no state),
///       1 if that is a stale claim else 0 }
///     | { "claimed", SID, createdAt ms }
enum ClaimExternalReply: ScriptReply, Equatable {
    /// The externalId names `id` already.
    case existing(id: String, version: Int64, staleClaim: Bool)
    /// The externalId now names the new id the call offered.
    case claimed(id: String, createdAt: Int64)

    static var script: LuaScript { RelayScripts.claimExternal }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "existing":
            self = .existing(id: try items.string(1, "session id"), version: try items.integer(2, "index state version"),
                             staleClaim: try items.flag(3, "stale claim"))
        case "claimed":
            self = .claimed(id: try items.string(1, "session id"), createdAt: try items.integer(2, "createdAt"))
        case let word: throw items.failure("unknown status \(word)")
        }
    }

    var id: String {
        switch self {
        case .existing(let id, _, _), .claimed(let id, _): return id
        }
    }
}

/// get_session.lua: HGETALL of the session, or an empty array when it is not this name's
/// session in the environment.
enum GetSessionReply: ScriptReply, Equatable {
    case row([String: String])
    case notThisName

    static var script: LuaScript { RelayScripts.getSession }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let fields = try ScriptReplyItems(reply, of: Self.script).fields(from: 0)
        self = fields.isEmpty ? .notThisName : .row(fields)
    }
}

/// update_session.lua: { "ok", outbox entry or "", HGETALL... } | { "notfound" } | { "unprocessable" }
enum UpdateSessionReply: ScriptReply, Equatable {
    case updated(SessionRowWrite)
    case notFound
    /// The request would change or clear the externalId.
    case unprocessable

    static var script: LuaScript { RelayScripts.updateSession }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok": self = .updated(try SessionRowWrite(items))
        case "notfound": self = .notFound
        case "unprocessable": self = .unprocessable
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// close_session.lua: { "ok", outbox entry or "", HGETALL... } | { "notfound" }
enum CloseSessionReply: ScriptReply, Equatable {
    case closed(SessionRowWrite)
    case notFound

    static var script: LuaScript { RelayScripts.closeSession }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok": self = .closed(try SessionRowWrite(items))
        case "notfound": self = .notFound
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// list_sessions.lua: { "ok", next id or "", previous id or "", SID1, SID2, ... } | { "badcursor" }
enum ListSessionsReply: ScriptReply, Equatable {
    case page(ids: [String], next: String?, previous: String?)
    /// The cursor names no session of this environment.
    case badCursor

    static var script: LuaScript { RelayScripts.listSessions }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok":
            let next = try items.string(1, "next id"), previous = try items.string(2, "previous id")
            self = .page(ids: try items.strings(from: 3, "session id"),
                         next: next.isEmpty ? nil : next, previous: previous.isEmpty ? nil : previous)
        case "badcursor": self = .badCursor
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}
