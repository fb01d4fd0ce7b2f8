// RedisError: the kinds of trouble a Redis reply can stand for, each of which the relay answers
// one way (RelayStorage's RedisErrors maps them to API errors).
import RelayIO

extension RedisReply {
    /// What went wrong, by kind, or nil when the reply is not an error.
    public var redisError: RedisError? {
        switch self {
        case .failure(.timedOut): return .timedOut
        case .failure(.notReplicated): return .notReplicated
        case .failure: return .unavailable
        case .error(let message): return RedisError(reply: message)
        default: return nil
        }
    }

    /// A flat [field, value, ...] array as a dictionary, from element `start` on.
    public func fieldDictionary(from start: Int = 0) -> [String: String] {
        guard start > 0 else {
            var fields: [String: String] = [:]
            forEachField { key, value in
                if let key = key.string, let value = value.string { fields[key] = value }
            }
            return fields
        }
        guard let items = array, items.count > start else { return [:] }
        return RedisReply.array(Array(items[start...])).fieldDictionary()
    }
}

/// The kinds of Redis trouble, each answered one way.
public enum RedisError: Equatable, Sendable {
    /// No connection, or it dropped before the reply: try again (503).
    case unavailable
    /// Redis did not answer within the command deadline: try again (503).
    case timedOut
    /// The write is on the primary but fewer replicas than required confirmed it in time: 503,
    /// and a retry with the same X-Part-Id answers the same seq.
    case notReplicated
    /// Redis says "not now" (LOADING, OOM, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY, and
    /// MOVED / ASK left over when the router gave up after too many redirections): 503.
    case transient(String)
    /// A relay script failed inside Redis: a bug or corrupt data (500).
    case script(String)
    /// Any other error reply (500).
    case server(String)

    public init(reply message: String) {
        let code = message.prefix { $0 != " " }
        if RedisError.transientCodes.contains(code) {
            self = .transient(message)
        } else if message.contains("user_script") || message.contains("script:") {
            self = .script(message)
        } else {
            self = .server(message)
        }
    }

    /// Error codes meaning "not now": the same request may succeed shortly.
    static let transientCodes: Set<Substring> = ["LOADING", "OOM", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "MOVED", "ASK"]
}
