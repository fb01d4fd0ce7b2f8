// The replies of the run scripts SessionStore.completeRun runs, decoded once (see ScriptReply).
import RelayIO
import RelayRedis

/// complete_run.lua: { "ok", sessionId } | { "notfound" }
enum CompleteRunReply: ScriptReply, Equatable {
    /// The run is completed; its session's currentRunId is cleared next (finish_run.lua).
    case completed(sessionId: String)
    /// No such run in this environment.
    case notFound

    static var script: LuaScript { RelayScripts.completeRun }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        switch try items.status() {
        case "ok": self = .completed(sessionId: try items.string(1, "session id"))
        case "notfound": self = .notFound
        case let word: throw items.failure("unknown status \(word)")
        }
    }
}

/// finish_run.lua: 1 if cleared, 0 if the session has another run or none
struct FinishRunReply: ScriptReply, Equatable {
    var cleared: Bool

    static var script: LuaScript { RelayScripts.finishRun }

    init(cleared: Bool) { self.cleared = cleared }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        switch reply {
        case .integer(1): cleared = true
        case .integer(0): cleared = false
        default: throw ScriptReplyError(script: Self.script.name, problem: "not 0 or 1", reply: reply)
        }
    }
}
