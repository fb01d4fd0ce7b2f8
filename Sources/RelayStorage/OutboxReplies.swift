// The replies of the outbox scripts (OutboxForwarder, OutboxSweeper), decoded once (see ScriptReply).
import RelayIO
import RelayRedis

/// apply_outbox.lua: { "ok" } | { "need", key... } (undeclared index keys: call again with them too)
enum ApplyOutboxReply: ScriptReply, Equatable {
    case applied
    /// The environment holds an older state naming these index keys, not declared in KEYS.
    case needs(keys: [String])

    static var script: LuaScript { RelayScripts.applyOutbox }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok": self = .applied
        case "need": self = .needs(keys: try items.strings(from: 1, "index key"))
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// outbox_cursor.lua: the first slot of the range, or -1 when the last range is too recent
enum OutboxCursorReply: ScriptReply, Equatable {
    case range(firstSlot: Int)
    case tooSoon

    static var script: LuaScript { RelayScripts.outboxCursor }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        switch reply {
        case .integer(-1): self = .tooSoon
        case .integer(let first) where first >= 0 && first < ClusterSlot.count: self = .range(firstSlot: Int(first))
        default: throw ScriptReplyError(script: Self.script.name, problem: "not a slot or -1", reply: reply)
        }
    }
}
