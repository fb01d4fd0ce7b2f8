// RelayScripts: the Lua scripts, embedded at build time from Lua/*.lua.
// Each script is lib.lua (shared helpers) followed by the script's own body.
import RelayIO
import RelayRedis

enum RelayScripts {
    private static let lib = PackageResources.lib_lua + [0x0A]

    static let createSession = LuaScript(name: "create_session", source: lib + PackageResources.create_session_lua)
    static let getSession = LuaScript(name: "get_session", source: lib + PackageResources.get_session_lua)
    static let updateSession = LuaScript(name: "update_session", source: lib + PackageResources.update_session_lua)
    static let closeSession = LuaScript(name: "close_session", source: lib + PackageResources.close_session_lua)
    static let listSessions = LuaScript(name: "list_sessions", source: lib + PackageResources.list_sessions_lua)
    static let completeRun = LuaScript(name: "complete_run", source: lib + PackageResources.complete_run_lua)

    static let claimExternal = LuaScript(name: "claim_external", source: lib + PackageResources.claim_external_lua)
    static let applyOutbox = LuaScript(name: "apply_outbox", source: lib + PackageResources.apply_outbox_lua)
    static let outboxCursor = LuaScript(name: "outbox_cursor", source: lib + PackageResources.outbox_cursor_lua)
    static let finishRun = LuaScript(name: "finish_run", source: lib + PackageResources.finish_run_lua)

    static let appendRecords = LuaScript(name: "append_records", source: lib + PackageResources.append_records_lua)
    static let appendBatch = LuaScript(name: "append_batch", source: lib + PackageResources.append_batch_lua)
    static let commitRecords = LuaScript(name: "commit_records", source: lib + PackageResources.commit_records_lua)
    static let readChannel = LuaScript(name: "read_channel", source: lib + PackageResources.read_channel_lua)
    static let sweepIndexes = LuaScript(name: "sweep_indexes", source: lib + PackageResources.sweep_indexes_lua)
}
