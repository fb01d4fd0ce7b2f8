// Maps Redis failures to API errors: an unreachable Redis is a 503, anything else a 500.
import RelayCore
import RelayIO

extension RedisReply {
    /// The API error this reply stands for, or nil when it is not an error reply.
    var apiError: APIError? {
        guard let message = errorMessage else { return nil }
        if message.hasPrefix("DOWN") || message == "connection lost" || message.hasPrefix("LOADING") {
            return .serviceUnavailable("Redis is unavailable, try again")
        }
        return .internalError("Redis error: \(message)")
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
