// Maps Redis failures to API errors. Redis' own text (command, script sha and line, memory
// state) is only ever the error's `detail`, which is logged, never sent: an unreachable,
// loading, full or busy Redis is a 503 (try again), anything else a 500.
import RelayCore
import RelayIO

extension RedisReply {
    /// The API error this reply stands for, or nil when it is not an error reply.
    var apiError: APIError? {
        guard let message = errorMessage else { return nil }
        return RedisErrors.apiError(forReply: message)
    }

    /// A flat [field, value, ...] array as a dictionary.
    func fieldDictionary(from start: Int = 0) -> [String: String] {
        guard let items = array else { return [:] }
        var fields: [String: String] = [:]
        var i = start
        while i + 1 < items.count {
            if let key = items[i].string, let value = items[i + 1].string { fields[key] = value }
            i += 2
        }
        return fields
    }
}

public enum RedisErrors {
    public static let unavailable = "Redis is unavailable, try again"
    /// Error codes meaning "not now": the same request may succeed shortly.
    static let transientCodes: Set<Substring> = ["LOADING", "OOM", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"]

    public static func apiError(forReply message: String) -> APIError {
        // The client's own "not connected" answers: nothing to hide, and the drop is logged
        // once by the link, not once per request.
        if message.hasPrefix("DOWN") || message == "connection lost" {
            return .serviceUnavailable(unavailable)
        }
        let code = message.prefix { $0 != " " }
        if transientCodes.contains(code) {
            return .serviceUnavailable(unavailable, detail: "Redis error: \(message)")
        }
        return .internalError("Redis error: \(message)")
    }
}
