// Maps Redis failures to API errors. Redis' own text (command, script sha and line, memory
// state) is only ever the error's `detail`, which is logged, never sent: an unreachable,
// loading, full or busy Redis is a 503 (try again), anything else a 500.
import RelayCore
import RelayIO

extension RedisReply {
    /// The API error this reply stands for, or nil when it is not an error.
    var apiError: APIError? { redisError.map(RedisErrors.apiError) }

    /// What went wrong, by kind, or nil when the reply is not an error.
    var redisError: RedisError? {
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

    init(reply message: String) {
        let code = message.prefix { $0 != " " }
        if RedisErrors.transientCodes.contains(code) {
            self = .transient(message)
        } else if message.contains("user_script") || message.contains("script:") {
            self = .script(message)
        } else {
            self = .server(message)
        }
    }
}

public enum RedisErrors {
    public static let unavailable = "Redis is unavailable, try again"
    /// Error codes meaning "not now": the same request may succeed shortly.
    static let transientCodes: Set<Substring> = ["LOADING", "OOM", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "MOVED", "ASK"]

    /// The one place each kind becomes an API error. Redis' text is only ever the `detail`.
    public static func apiError(_ error: RedisError) -> APIError {
        switch error {
        // The client's own failures: nothing to hide, and a drop is logged once by the link.
        case .unavailable: return .serviceUnavailable(unavailable)
        case .timedOut: return .serviceUnavailable(unavailable, detail: "Redis did not answer within the command deadline")
        case .transient(let message): return .serviceUnavailable(unavailable, detail: "Redis error: \(message)")
        case .notReplicated:
            return .serviceUnavailable("The write was not confirmed by enough Redis replicas in time; retry (with the same X-Part-Id for appends)",
                                       detail: "WAIT timed out")
        case .script(let message): return .internalError("Redis script error: \(message)")
        case .server(let message): return .internalError("Redis error: \(message)")
        }
    }
}
