// The reply of sweep_indexes.lua (IndexSweeper), decoded once (see ScriptReply).
import RelayIO
import RelayRedis

/// sweep_indexes.lua:
///     { examined, removed, 1 if this step finished a pass else 0, the target now,
///       up to 32 registered index names that follow it }
struct SweepIndexesReply: ScriptReply, Equatable {
    var examined: Int64
    var removed: Int64
    var finishedPass: Bool
    /// What the shared walk visits next ("ext", "ix" or an index name).
    var target: String
    /// Registered index names after the target.
    var following: [String]

    static var script: LuaScript { RelayScripts.sweepIndexes }

    init(examined: Int64, removed: Int64, finishedPass: Bool, target: String, following: [String]) {
        self.examined = examined
        self.removed = removed
        self.finishedPass = finishedPass
        self.target = target
        self.following = following
    }

    init(_ reply: RedisReply) throws(ScriptReplyError) {
        let items = try ScriptReplyItems(reply, of: Self.script)
        examined = try items.integer(0, "examined")
        removed = try items.integer(1, "removed")
        finishedPass = try items.flag(2, "finished a pass")
        target = try items.string(3, "target")
        following = try items.strings(from: 4, "index name")
    }

    /// The names the next step declares in KEYS: the target and those after it (for the
    /// targets "ext", "ix" and the fixed indexes, keys declared anyway: harmless).
    var upcoming: [String] { [target] + following }
}
