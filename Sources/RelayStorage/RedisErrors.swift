// Maps Redis failures to API errors. Redis' own text (command, script sha and line, memory
// state) is only ever the error's `detail`, which is logged, never sent: an unreachable,
// loading, full or busy Redis is a 503 (try again), anything else a 500.
import RelayCore
import RelayIO
import RelayRedis

extension RedisReply {
    /// The API error this reply stands for, or nil when it is not an error.
    var apiError: APIError? { redisError.map(RedisErrors.apiError) }
}

public enum RedisErrors {
    public static let unavailable = "Redis is unavailable, try again"

    /// The one place each kind becomes an API error. Redis' text is only ever the `detail`.
    public static func apiError(_ error: RedisError) -> APIError {
        switch error {
        // The client's own failures: nothing to hide, and a drop is logged once by the node.
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
