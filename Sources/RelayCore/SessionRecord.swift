// SessionRecord.swift — a session as stored in Redis (a hash of string fields) and its
// row JSON (docs/API.md, Sessions).
//
// Field names, shared with the Lua scripts: id, env, type, task, tags (JSON array text),
// createdAt, updatedAt (ms since epoch, decimal), externalId, triggerConfig (JSON text),
// currentRunId, lastRunId, metadata (JSON text; absent = null), closedAt (ms),
// closedReason, expiresAt (ms). An absent or empty field is nil.

public struct SessionRecord: Sendable, Equatable {
    public var id: String
    public var environmentId: String
    public var type: String
    public var taskIdentifier: String
    public var tags: [String]
    public var createdAt: Int64
    public var updatedAt: Int64
    public var externalId: String?
    public var triggerConfigJSON: String?
    public var currentRunId: String?
    public var lastRunId: String?
    public var metadataJSON: String?
    public var closedAt: Int64?
    public var closedReason: String?
    public var expiresAt: Int64?

    public init(id: String, environmentId: String, type: String, taskIdentifier: String,
                tags: [String] = [], createdAt: Int64, updatedAt: Int64,
                externalId: String? = nil, triggerConfigJSON: String? = nil,
                currentRunId: String? = nil, lastRunId: String? = nil, metadataJSON: String? = nil,
                closedAt: Int64? = nil, closedReason: String? = nil, expiresAt: Int64? = nil) {
        self.id = id
        self.environmentId = environmentId
        self.type = type
        self.taskIdentifier = taskIdentifier
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.externalId = externalId
        self.triggerConfigJSON = triggerConfigJSON
        self.currentRunId = currentRunId
        self.lastRunId = lastRunId
        self.metadataJSON = metadataJSON
        self.closedAt = closedAt
        self.closedReason = closedReason
        self.expiresAt = expiresAt
    }

    /// Reads a Redis hash. Throws APIError.internalError when a required field
    /// (id, env, type, task, createdAt, updatedAt) is missing or a field is corrupt.
    public init(fields: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let v = fields[name], !v.isEmpty else { return nil }
            return v
        }
        func required(_ name: String) throws -> String {
            guard let v = value(name) else {
                throw APIError.internalError("Corrupt session record: missing field \(name)")
            }
            return v
        }
        func time(_ name: String) throws -> Int64? {
            guard let v = value(name) else { return nil }
            guard let ms = Int64(v) else {
                throw APIError.internalError("Corrupt session record: bad field \(name)")
            }
            return ms
        }
        id = try required("id")
        environmentId = try required("env")
        type = try required("type")
        taskIdentifier = try required("task")
        guard let created = try time("createdAt") else {
            throw APIError.internalError("Corrupt session record: missing field createdAt")
        }
        guard let updated = try time("updatedAt") else {
            throw APIError.internalError("Corrupt session record: missing field updatedAt")
        }
        createdAt = created
        // Appends do not rewrite updatedAt (one field less to scan per append): a channel's last
        // record time (ts:in, ts:out) is when the session was last written to.
        updatedAt = max(updated, ((try? time("ts:in")) ?? nil) ?? 0, ((try? time("ts:out")) ?? nil) ?? 0)
        if let tagText = value("tags") {
            guard let list = (try? JSONParser.parse(tagText))?.arrayValue else {
                throw APIError.internalError("Corrupt session record: bad field tags")
            }
            tags = list.compactMap(\.stringValue)
        } else {
            tags = []
        }
        externalId = value("externalId")
        triggerConfigJSON = value("triggerConfig")
        currentRunId = value("currentRunId")
        lastRunId = value("lastRunId")
        metadataJSON = value("metadata")
        closedAt = try time("closedAt")
        closedReason = value("closedReason")
        expiresAt = try time("expiresAt")
    }

    /// CLOSED if closedAt is set, else EXPIRED if expiresAt <= now, else ACTIVE.
    public func status(nowMs: Int64) -> SessionStatus {
        if closedAt != nil { return .closed }
        if let expiresAt, expiresAt <= nowMs { return .expired }
        return .active
    }

    public var names: SessionNames { SessionNames(friendlyId: id, externalId: externalId) }

    /// The row JSON: id, type, taskIdentifier, tags, createdAt, updatedAt, externalId,
    /// triggerConfig (omitted when nil), currentRunId, metadata, closedAt, closedReason,
    /// expiresAt, status, then each `extra` (key, raw JSON value) in order.
    public func rowJSON(nowMs: Int64, extra: [(String, String)] = []) -> String {
        var w = JSONObjectWriter()
        w.string("id", id)
        w.string("type", type)
        w.string("taskIdentifier", taskIdentifier)
        w.stringArray("tags", tags)
        w.string("createdAt", RFC3339.format(milliseconds: createdAt))
        w.string("updatedAt", RFC3339.format(milliseconds: updatedAt))
        w.optionalString("externalId", externalId)
        if let triggerConfigJSON { w.raw("triggerConfig", triggerConfigJSON) }
        w.optionalString("currentRunId", currentRunId)
        w.optionalRaw("metadata", metadataJSON)
        w.optionalString("closedAt", closedAt.map { RFC3339.format(milliseconds: $0) })
        w.optionalString("closedReason", closedReason)
        w.optionalString("expiresAt", expiresAt.map { RFC3339.format(milliseconds: $0) })
        w.string("status", status(nowMs: nowMs).rawValue)
        for (key, json) in extra { w.raw(key, json) }
        return w.finish()
    }
}
