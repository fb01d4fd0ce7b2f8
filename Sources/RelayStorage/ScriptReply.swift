// ScriptReply: a script's reply as a typed value. Each relay script's `return` has one decoder
// (SessionReplies, ChannelReplies, OutboxReplies, IndexSweepReply), which quotes the script's
// reply shape and names each position once; the stores use its fields, never `items[n]`. A reply
// of another shape is a ScriptReplyError (an internal error for the caller), never a crash.
import RelayCore
import RelayIO
import RelayRedis

protocol ScriptReply {
    /// The script whose `return` this decodes.
    static var script: LuaScript { get }
    init(_ reply: RedisReply) throws(ScriptReplyError)
}

/// A script answered with a shape its decoder does not know.
struct ScriptReplyError: Error, Equatable, CustomStringConvertible {
    var script: String
    /// What was wrong, naming the position ("element 1 (seq) is not an integer").
    var problem: String
    var reply: RedisReply

    var description: String {
        let shown = String(describing: reply)
        return "unexpected reply from \(script): \(problem) in \(shown.count > 300 ? String(shown.prefix(300)) + "…" : shown)"
    }
}

extension RedisReply {
    /// The reply as `R`: a Redis error (or no reply) is mapped as every Redis error is
    /// (RedisErrors); a reply `R` cannot read is an internal error.
    func decoded<R: ScriptReply>(as _: R.Type) -> Result<R, APIError> {
        if let error = apiError { return .failure(error) }
        do throws(ScriptReplyError) {
            return .success(try R(self))
        } catch {
            return .failure(.internalError(error.description))
        }
    }
}

/// The elements of a script's array reply, read by position (0-based: Lua's element 1 is 0).
struct ScriptReplyItems {
    let script: LuaScript
    let reply: RedisReply
    let items: [RedisReply]

    init(_ reply: RedisReply, of script: LuaScript) throws(ScriptReplyError) {
        self.script = script
        self.reply = reply
        guard let items = reply.array else {
            throw ScriptReplyError(script: script.name, problem: reply.errorMessage == nil ? "not an array" : "an error", reply: reply)
        }
        self.items = items
    }

    func failure(_ problem: String) -> ScriptReplyError {
        ScriptReplyError(script: script.name, problem: problem, reply: reply)
    }

    private func element(_ index: Int, _ name: String) throws(ScriptReplyError) -> RedisReply {
        guard index < items.count else { throw failure("no element \(index) (\(name))") }
        return items[index]
    }

    /// Element 0, the word most replies start with ("ok", "notfound", ...).
    func status() throws(ScriptReplyError) -> String {
        guard let first = items.first?.string else { throw failure("no status word") }
        return first
    }

    func string(_ index: Int, _ name: String) throws(ScriptReplyError) -> String {
        guard let value = try element(index, name).string else { throw failure("element \(index) (\(name)) is not a string") }
        return value
    }

    func integer(_ index: Int, _ name: String) throws(ScriptReplyError) -> Int64 {
        guard let value = try element(index, name).int else { throw failure("element \(index) (\(name)) is not an integer") }
        return value
    }

    /// A sequence number (a non-negative integer).
    func seq(_ index: Int, _ name: String) throws(ScriptReplyError) -> UInt64 {
        guard let value = UInt64(exactly: try integer(index, name)) else { throw failure("element \(index) (\(name)) is negative") }
        return value
    }

    /// 0 or 1.
    func flag(_ index: Int, _ name: String) throws(ScriptReplyError) -> Bool {
        switch try integer(index, name) {
        case 0: return false
        case 1: return true
        default: throw failure("element \(index) (\(name)) is not 0 or 1")
        }
    }

    /// An outbox entry a script wrote (outbox_put in lib.lua: JSON text), "" for none.
    func outboxEntry(_ index: Int) throws(ScriptReplyError) -> String? {
        guard case .bulk(let bytes) = try element(index, "outbox entry") else {
            throw failure("element \(index) (outbox entry) is not a bulk string")
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// Every element from `index` on, each a string.
    func strings(from index: Int, _ name: String) throws(ScriptReplyError) -> [String] {
        var values: [String] = []
        for i in index..<max(index, items.count) {
            guard let value = items[i].string else { throw failure("element \(i) (\(name)) is not a string") }
            values.append(value)
        }
        return values
    }

    /// The flat [field, value, ...] list (HGETALL) from `index` on.
    func fields(from index: Int) -> [String: String] {
        index < items.count ? RedisReply.array(Array(items[index...])).fieldDictionary() : [:]
    }

    /// Every element from `index` on.
    func elements(from index: Int) -> ArraySlice<RedisReply> {
        items[min(index, items.count)...]
    }
}
