// SessionStore: sessions and runs in Redis (docs/API.md, Sessions and Runs). Every operation is one
// script call, so each is atomic and one round trip; callers get a Result on the loop thread.
import RelayCore
import RelayIO

public final class SessionStore {
    public enum CreateOutcome: Sendable, Equatable {
        case created(SessionRecord)
        case cached(SessionRecord)
    }

    public struct Page: Sendable {
        public var rows: [SessionRecord]
        public var next: String?
        public var previous: String?
    }

    private let redis: any RedisCommands
    public let keys: RedisKeys
    /// How long a closed or expired session's data is kept.
    public let retentionSeconds: Int

    public init(redis: any RedisCommands, keys: RedisKeys, retentionSeconds: Int) {
        self.redis = redis
        self.keys = keys
        self.retentionSeconds = retentionSeconds
    }

    /// Creates the run consumer group of each environment (at "0" so nothing is missed).
    /// BUSYGROUP (it exists) is the usual answer after the first start; any other error is
    /// passed to `failed` with the environment it concerns.
    public func ensureRunGroups(environments: [RelayEnvironment], failed: @escaping (String, RedisError) -> Void = { _, _ in },
                                _ done: @escaping () -> Void = {}) {
        var pending = environments.count
        if pending == 0 { done() }
        for env in environments {
            redis.send(key: keys.runs(environment: env.id), ["XGROUP", "CREATE", keys.runs(environment: env.id), RedisKeys.runConsumerGroup, "0", "MKSTREAM"]) { reply in
                if let error = reply.redisError, !(reply.errorMessage ?? "").hasPrefix("BUSYGROUP") { failed(env.id, error) }
                pending -= 1
                if pending == 0 { done() }
            }
        }
    }

    /// The answer to a caller who asks for an externalId taken by a session it may not read,
    /// open or not: no row, no token, and nothing said about that session.
    public static let externalIdTaken = APIError.conflict("externalId is already in use")

    /// Creates a session, or returns the open one with the request's externalId if `readable`
    /// covers it (the script checks, since only it knows that session's friendly id).
    public func create(in env: RelayEnvironment, _ request: CreateSessionRequest, readable: ReadableSessions,
                       _ completion: @escaping (Result<CreateOutcome, APIError>) -> Void) {
        let config = RunTemplate(triggerConfig: request.triggerConfig)
        let args: [String] = [
            keys.prefix, env.id, FriendlyID.session(), FriendlyID.run(),
            request.type, request.taskIdentifier, jsonStringArray(request.tags),
            request.externalId ?? "", request.triggerConfig?.serialized() ?? "",
            request.metadata.map { $0.isNull ? "" : $0.serialized() } ?? "",
            request.expiresAt.map(String.init) ?? "",
            config.payloadBase, config.runOptions, config.idleTimeout ?? "", String(retentionSeconds),
            readable.scriptArgument,
        ]
        redis.run(RelayScripts.createSession, keys: [], args) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            switch reply.array?.first?.string {
            case "taken":
                completion(.failure(SessionStore.externalIdTaken))
            case "conflict":
                completion(.failure(.conflict("externalId \(request.externalId ?? "") belongs to a closed or expired session")))
            case "created":
                completion(Result { try SessionRecord(fields: reply.fieldDictionary(from: 1)) }
                    .map { .created($0) }.mapError(asAPIError))
            case "cached":
                completion(Result { try SessionRecord(fields: reply.fieldDictionary(from: 1)) }
                    .map { .cached($0) }.mapError(asAPIError))
            default:
                completion(.failure(.internalError("unexpected reply from create_session")))
            }
        }
    }

    /// A session by friendly id or externalId; 404 when unknown in this environment.
    public func get(in env: RelayEnvironment, _ name: String,
                    _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        redis.run(RelayScripts.getSession, keys: [], [keys.prefix, env.id, name]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            let fields = reply.fieldDictionary()
            guard !fields.isEmpty else { return completion(.failure(.notFound("Session not found"))) }
            completion(Result { try SessionRecord(fields: fields) }.mapError(asAPIError))
        }
    }

    public func update(in env: RelayEnvironment, _ name: String, _ request: UpdateSessionRequest,
                       _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        var args = [keys.prefix, env.id, name]
        args += request.tags.map { ["1", jsonStringArray($0)] } ?? ["0", ""]
        switch request.metadata {
        case .absent: args += ["0", ""]
        case .set(let value): args += ["1", value.isNull ? "" : value.serialized()]
        }
        switch request.externalId {
        case .absent: args += ["0", "", "0"]
        case .set(let value): args += ["1", value ?? "", value == nil ? "1" : "0"]
        }
        redis.run(RelayScripts.updateSession, keys: [], args) { reply in
            completion(SessionStore.rowResult(reply, unprocessable: "externalId cannot be changed or cleared after create"))
        }
    }

    public func close(in env: RelayEnvironment, _ name: String, reason: String?,
                      _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        redis.run(RelayScripts.closeSession, keys: [], [keys.prefix, env.id, name, reason ?? "", String(retentionSeconds)]) { reply in
            completion(SessionStore.rowResult(reply, unprocessable: ""))
        }
    }

    public func list(in env: RelayEnvironment, _ query: ListQuery,
                     _ completion: @escaping (Result<Page, APIError>) -> Void) {
        let (mode, cursor): (String, String) = {
            switch query.cursor {
            case .none: return ("none", "")
            case .after(let id): return ("after", id)
            case .before(let id): return ("before", id)
            }
        }()
        var filters = JSONObjectWriter()
        filters.stringArray("types", query.types)
        filters.stringArray("tags", query.tags)
        filters.stringArray("tasks", query.taskIdentifiers)
        filters.stringArray("externalIds", query.externalIds)
        filters.stringArray("statuses", query.statuses.map(\.rawValue))
        let args = [keys.prefix, env.id, String(query.pageSize), mode, cursor,
                    query.createdFrom.map(String.init) ?? "", query.createdTo.map(String.init) ?? "",
                    filters.finish()]
        redis.run(RelayScripts.listSessions, keys: [], args) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            guard let items = reply.array, let status = items.first?.string else {
                return completion(.failure(.internalError("unexpected reply from list_sessions")))
            }
            if status == "badcursor" {
                let name = mode == "after" ? "page[after]" : "page[before]"
                return completion(.failure(.badRequest("\(name) does not name a session of this environment")))
            }
            do {
                let rows = try items.dropFirst(3).map { try SessionRecord(fields: $0.fieldDictionary()) }
                let next = items.count > 1 ? items[1].string.flatMap { $0.isEmpty ? nil : $0 } : nil
                let previous = items.count > 2 ? items[2].string.flatMap { $0.isEmpty ? nil : $0 } : nil
                completion(.success(Page(rows: rows, next: next, previous: previous)))
            } catch {
                completion(.failure(asAPIError(error)))
            }
        }
    }

    /// Marks a run completed; returns its session id.
    public func completeRun(in env: RelayEnvironment, _ runId: String,
                            _ completion: @escaping (Result<String, APIError>) -> Void) {
        redis.run(RelayScripts.completeRun, keys: [], [keys.prefix, env.id, runId]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            guard let items = reply.array, items.first?.string == "ok", let sid = items.dropFirst().first?.string else {
                return completion(.failure(.notFound("Run not found")))
            }
            completion(.success(sid))
        }
    }

    private static func rowResult(_ reply: RedisReply, unprocessable: String) -> Result<SessionRecord, APIError> {
        if let error = reply.apiError { return .failure(error) }
        switch reply.array?.first?.string {
        case "ok": return Result { try SessionRecord(fields: reply.fieldDictionary(from: 1)) }.mapError(asAPIError)
        case "notfound": return .failure(.notFound("Session not found"))
        case "unprocessable": return .failure(.unprocessable(unprocessable))
        default: return .failure(.internalError("unexpected reply from Redis"))
        }
    }
}

extension ReadableSessions {
    /// How create_session.lua takes it: "*", or a JSON array of session spellings.
    var scriptArgument: String {
        switch self {
        case .all: return "*"
        case .named(let names): return jsonStringArray(names.sorted())
        }
    }
}

func jsonStringArray(_ values: [String]) -> String {
    "[" + values.map(jsonQuoted).joined(separator: ",") + "]"
}

/// What every run of a session is triggered with, derived once from its triggerConfig.
struct RunTemplate {
    /// basePayload's members as JSON text without the braces, minus the keys the relay sets.
    var payloadBase = ""
    /// triggerConfig without basePayload, as a JSON object.
    var runOptions = "{}"
    var idleTimeout: String?

    static let reservedPayloadKeys: Set<String> = ["sessionId", "idleTimeoutInSeconds", "continuation", "previousRunId"]

    init(triggerConfig: JSONValue?) {
        guard case .object(let members)? = triggerConfig else { return }
        if case .object(let base)? = triggerConfig?["basePayload"] {
            payloadBase = base.filter { !RunTemplate.reservedPayloadKeys.contains($0.key) }
                .map { jsonQuoted($0.key) + ":" + $0.value.serialized() }
                .joined(separator: ",")
        }
        runOptions = JSONValue.object(members.filter { $0.key != "basePayload" }).serialized()
        if case .number(let text)? = triggerConfig?["idleTimeoutInSeconds"] { idleTimeout = text }
    }
}
