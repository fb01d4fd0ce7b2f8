// SessionRequests.swift — validated bodies of the session API: create, update, close
// (docs/API.md, Sessions). Each `parse` throws APIError.badRequest naming the offending field.

public struct CreateSessionRequest: Sendable, Equatable {
    public var type: String
    public var taskIdentifier: String
    /// The triggerConfig object as given (already validated).
    public var triggerConfig: JSONValue?
    public var externalId: String?
    public var tags: [String]
    /// nil = absent; `.null` when the body said null.
    public var metadata: JSONValue?
    /// ms since epoch.
    public var expiresAt: Int64?

    public init(type: String, taskIdentifier: String, triggerConfig: JSONValue? = nil,
                externalId: String? = nil, tags: [String] = [], metadata: JSONValue? = nil,
                expiresAt: Int64? = nil) {
        self.type = type
        self.taskIdentifier = taskIdentifier
        self.triggerConfig = triggerConfig
        self.externalId = externalId
        self.tags = tags
        self.metadata = metadata
        self.expiresAt = expiresAt
    }

    static let typeLength = 1...64
    static let taskLength = 1...128
    static let externalIdLength = 1...256

    public static func parse(_ body: [UInt8]) throws -> CreateSessionRequest {
        typealias V = RequestValidation
        let json = try V.object(body, emptyIsObject: false)
        let type = try V.string(json, "type", typeLength, required: true)!
        let task = try V.string(json, "taskIdentifier", taskLength, required: true)!
        var request = CreateSessionRequest(type: type, taskIdentifier: task)
        if let config = json["triggerConfig"], !config.isNull {
            try validateTriggerConfig(config)
            request.triggerConfig = config
        }
        if let externalId = try V.string(json, "externalId", externalIdLength) {
            guard !FriendlyID.isSession(externalId) else {
                throw V.invalid("externalId must not start with \"\(FriendlyID.sessionPrefix)\"")
            }
            request.externalId = externalId
        }
        if let tags = json["tags"], !tags.isNull {
            request.tags = try V.tags(tags)
        }
        request.metadata = json["metadata"]
        if let expires = json["expiresAt"], !expires.isNull {
            guard let text = expires.stringValue, let ms = RFC3339.parse(text) else {
                throw V.invalid("expiresAt must be an RFC 3339 date-time string")
            }
            request.expiresAt = ms
        }
        return request
    }

    /// triggerConfig: an object of known trigger options only; null members count as absent.
    static func validateTriggerConfig(_ config: JSONValue) throws {
        typealias V = RequestValidation
        guard let members = config.objectValue else { throw V.invalid("triggerConfig must be an object") }
        for member in members where !member.value.isNull {
            let name = "triggerConfig.\(member.key)"
            let v = member.value
            switch member.key {
            case "basePayload":
                guard v.objectValue != nil else { throw V.invalid("\(name) must be an object") }
            case "machine", "queue", "lockToVersion", "region":
                guard v.stringValue != nil else { throw V.invalid("\(name) must be a string") }
            case "tags":
                guard let items = v.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
                    throw V.invalid("\(name) must be an array of strings")
                }
            case "maxAttempts", "idleTimeoutInSeconds":
                guard let n = v.int64Value, n > 0 else { throw V.invalid("\(name) must be a positive integer") }
            case "maxDuration":
                guard let d = v.doubleValue, d.isFinite, d > 0 else { throw V.invalid("\(name) must be a positive number") }
            default:
                throw V.invalid("\(name) is not a recognized field")
            }
        }
    }
}

/// A PATCH field: left alone, or set to a value.
public enum FieldUpdate<T: Sendable & Equatable>: Sendable, Equatable {
    case absent
    case set(T)
}

public struct UpdateSessionRequest: Sendable, Equatable {
    /// nil = unchanged; JSON null clears ([]).
    public var tags: [String]?
    /// `.set(.null)` clears.
    public var metadata: FieldUpdate<JSONValue>
    /// `.set(nil)` when JSON null. Only "equal to the current value" is acceptable (the
    /// handler answers 422 otherwise), so the value is not bounds-checked here.
    public var externalId: FieldUpdate<String?>

    public init(tags: [String]? = nil, metadata: FieldUpdate<JSONValue> = .absent,
                externalId: FieldUpdate<String?> = .absent) {
        self.tags = tags
        self.metadata = metadata
        self.externalId = externalId
    }

    /// An empty body means no changes.
    public static func parse(_ body: [UInt8]) throws -> UpdateSessionRequest {
        typealias V = RequestValidation
        let json = try V.object(body, emptyIsObject: true)
        var request = UpdateSessionRequest()
        if let tags = json["tags"] {
            request.tags = tags.isNull ? [] : try V.tags(tags)
        }
        if let metadata = json["metadata"] {
            request.metadata = .set(metadata)
        }
        if let externalId = json["externalId"] {
            if externalId.isNull {
                request.externalId = .set(nil)
            } else if let s = externalId.stringValue {
                request.externalId = .set(s)
            } else {
                throw V.invalid("externalId must be a string or null")
            }
        }
        return request
    }
}

public struct CloseSessionRequest: Sendable, Equatable {
    public var reason: String?

    public init(reason: String? = nil) {
        self.reason = reason
    }

    static let reasonLength = 0...256

    /// Body optional; `reason` a string of at most 256 characters, or null.
    public static func parse(_ body: [UInt8]) throws -> CloseSessionRequest {
        typealias V = RequestValidation
        let json = try V.object(body, emptyIsObject: true)
        guard let reason = json["reason"], !reason.isNull else { return CloseSessionRequest() }
        guard let s = reason.stringValue else { throw V.invalid("reason must be a string or null") }
        guard reasonLength.contains(s.count) else { throw V.invalid("reason must be at most 256 characters") }
        return CloseSessionRequest(reason: s)
    }
}
