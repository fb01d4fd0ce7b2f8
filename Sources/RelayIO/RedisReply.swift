// RedisReply: a Redis reply copied out of hiredis into a Swift value.
internal import CHiredis

/// Why a command got no reply from Redis: the client's own failures, kept apart from Redis'
/// error replies so that each kind is mapped once (see RelayRedis/RedisErrors.swift).
public enum RedisFailure: String, Equatable, Sendable {
    /// No connection (down, or between reconnects).
    case notConnected = "not connected"
    /// hiredis refused to queue the command.
    case notSent = "command not sent"
    /// The connection dropped before the reply came.
    case connectionLost = "connection lost"
    /// Redis did not answer within the command deadline; the connection was dropped.
    case timedOut = "timed out"
    /// A write succeeded on the primary, but WAIT saw fewer replicas confirm it than asked
    /// (`RELAY_REDIS_WAIT_REPLICAS`) within its timeout.
    case notReplicated = "not confirmed by enough replicas in time"
}

public enum RedisReply: Equatable, Sendable {
    case status(String)
    /// An error reply from Redis, with Redis' own text.
    case error(String)
    /// No reply: the client could not send the command or lost the connection.
    case failure(RedisFailure)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// Copies a hiredis reply (valid only during the callback) into a value.
    init(_ reply: UnsafeMutablePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS: self = .status(String(decoding: RedisReply.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR: self = .error(String(decoding: RedisReply.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER: self = .integer(r.integer)
        case REDIS_REPLY_STRING: self = .bulk(RedisReply.bytes(r.str, r.len))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(RedisReply(element)) } else { items.append(.null) }
            }
            self = .array(items)
        default: self = .null
        }
    }

    private static func bytes(_ str: UnsafeMutablePointer<CChar>?, _ len: Int) -> [UInt8] {
        guard let str, len > 0 else { return [] }
        return str.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
    }

    public var string: String? {
        switch self {
        case .bulk(let b): return String(decoding: b, as: UTF8.self)
        case .status(let s): return s
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk, .status: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The text of an error reply or of a client failure; nil for any other reply.
    public var errorMessage: String? {
        switch self {
        case .error(let e): return e
        case .failure(let f): return f.rawValue
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }

    /// Calls `body` with each (field, value) of a flat [field, value, ...] array (HGETALL,
    /// stream entries); a trailing odd element is ignored.
    public func forEachField(_ body: (RedisReply, RedisReply) -> Void) {
        guard let items = array else { return }
        var i = 0
        while i + 1 < items.count {
            body(items[i], items[i + 1])
            i += 2
        }
    }
}
