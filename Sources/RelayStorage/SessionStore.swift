// SessionStore: sessions and runs in Redis (docs/API.md, Sessions and Runs). Every operation is one
// script call, so each is atomic and one round trip; callers get a Result on the loop thread.
import RelayCore
import RelayIO
import RelayRedis

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
    /// Friendly id or externalId → the session's id (and so its slot).
    public let names: SessionResolver
    /// Runs before a close or an update is sent: the channel store sends the appends it holds
    /// for the end of the loop iteration first (AppendGroups), so those never overtake them.
    var beforeSessionWrite: () -> Void = {}
    /// Carries what a session's slot tells its environment's slot (indexes, run dispatch).
    public let forwarder: OutboxForwarder

    public init(redis: any RedisCommands, keys: RedisKeys, retentionSeconds: Int, forwarder: OutboxForwarder) {
        self.redis = redis
        self.keys = keys
        self.retentionSeconds = retentionSeconds
        self.forwarder = forwarder
        names = SessionResolver(redis: redis, keys: keys)
    }

    /// Creates the run consumer group of each environment (at "0" so nothing is missed).
    /// BUSYGROUP (it exists) is the usual answer after the first start; any other error is
    /// passed to `failed` with the environment it concerns.
    public func ensureRunGroups(environments: [RelayEnvironment], failed: @escaping (String, RedisError) -> Void = { _, _ in },
                                _ done: @escaping () -> Void = {}) {
        var pending = environments.count
        if pending == 0 { done() }
        for env in environments {
            let stream = keys.runs(environment: env.id)
            redis.send(key: stream, ["XGROUP", "CREATE", stream, RedisKeys.runConsumerGroup, "0", "MKSTREAM"]) { reply in
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
    /// covers it. With an externalId, the environment's slot first decides which id it names
    /// (claim_external.lua), so racing creates on any nodes meet in one session's slot.
    public func create(in env: RelayEnvironment, _ request: CreateSessionRequest, readable: ReadableSessions,
                       _ completion: @escaping (Result<CreateOutcome, APIError>) -> Void) {
        let fresh = FriendlyID.session()
        guard let ext = request.externalId else {
            return createInSlot(env, request, id: fresh, createdAt: nil, readable: readable, completion)
        }
        claim(env, request, ext: ext, fresh: fresh, gone: "", readable: readable, completion)
    }

    /// Claims `ext` in the environment's slot, then creates (or finds) its session in the
    /// session's slot. `gone`: an id the session's slot just reported gone (claim again once).
    private func claim(_ env: RelayEnvironment, _ request: CreateSessionRequest, ext: String, fresh: String, gone: String,
                       readable: ReadableSessions, _ completion: @escaping (Result<CreateOutcome, APIError>) -> Void) {
        let extKey = keys.externalIds(environment: env.id)
        redis.run(RelayScripts.claimExternal, keys: [extKey, keys.indexStates(environment: env.id)], [ext, fresh, gone]) { [weak self] reply in
            guard let self else { return }
            let claim: ClaimExternalReply
            switch reply.decoded(as: ClaimExternalReply.self) {
            case .failure(let error): return completion(.failure(error))
            case .success(let decoded): claim = decoded
            }
            var createdAt: String?, mustExist = false, staleClaim = false
            switch claim {
            case .claimed(_, let at): createdAt = String(at)
            case .existing(_, let version, let stale): (mustExist, staleClaim) = (version != 0, stale)
            }
            let id = claim.id
            self.createInSlot(env, request, id: id, createdAt: createdAt, mustExist: mustExist, staleClaim: staleClaim,
                              readable: readable) { result in
                // The row the externalId named is gone (expired by its shard's clock, or a
                // foreign row): free the externalId and claim it again, once.
                if case .failure(SessionStore.gone) = result, gone.isEmpty {
                    return self.claim(env, request, ext: ext, fresh: fresh, gone: id, readable: readable, completion)
                }
                completion(result)
            }
        }
    }

    private static let gone = APIError.conflict("externalId is being reused, try again")

    private func createInSlot(_ env: RelayEnvironment, _ request: CreateSessionRequest, id: String, createdAt: String?,
                              mustExist: Bool = false, staleClaim: Bool = false, readable: ReadableSessions,
                              _ completion: @escaping (Result<CreateOutcome, APIError>) -> Void) {
        let config = RunTemplate(triggerConfig: request.triggerConfig)
        let args: [String] = [
            env.id, id, FriendlyID.run(),
            request.type, request.taskIdentifier, jsonStringArray(request.tags),
            request.externalId ?? "", request.triggerConfig?.serialized() ?? "",
            request.metadata.map { $0.isNull ? "" : $0.serialized() } ?? "",
            request.expiresAt.map(String.init) ?? "",
            config.payloadBase, config.runOptions, config.idleTimeout ?? "", String(retentionSeconds),
            readable.scriptArgument, createdAt ?? "", mustExist ? "1" : "0", staleClaim ? "1" : "0",
        ]
        let outbox = keys.outbox(session: id)
        redis.run(RelayScripts.createSession, keys: [keys.sessionMeta(id), outbox], args) { [weak self] reply in
            guard let self else { return }
            let answer = { (write: SessionRowWrite, outcome: (SessionRecord) -> CreateOutcome) in
                let result = Result { try SessionRecord(fields: write.row) }.mapError(asAPIError).map(outcome)
                if let ext = request.externalId, case .success = result { self.names.remember(env: env.id, ext, id: id) }
                self.forwardThen(write.outboxEntry, outbox: outbox) { completion(result) }
            }
            switch reply.decoded(as: CreateSessionReply.self) {
            case .failure(let error):
                completion(.failure(error))
            case .success(.taken):
                completion(.failure(SessionStore.externalIdTaken))
            case .success(.gone), .success(.stale):
                completion(.failure(SessionStore.gone))
            case .success(.conflict):
                completion(.failure(.conflict("externalId \(request.externalId ?? "") belongs to a closed or expired session")))
            case .success(.created(let write)):
                answer(write, CreateOutcome.created)
            case .success(.cached(let write)):
                answer(write, CreateOutcome.cached)
            }
        }
    }

    /// Forwards the outbox entry a script answered with (nil: it wrote none) before the caller
    /// is answered, so a list or a worker right after sees the change. A failed forward is not
    /// the caller's failure: the change is made, and the sweeper forwards the entry later.
    func forwardThen(_ entry: String?, outbox: String, _ then: @escaping () -> Void) {
        guard let entry else { return then() }
        forwarder.forward(entry, outboxKey: outbox) { _ in then() }
    }

    /// A session by friendly id or externalId; 404 when unknown in this environment.
    public func get(in env: RelayEnvironment, _ name: String,
                    _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        names.withSession(env: env.id, name, notFound: { .failure(.notFound("Session not found")) }, { [keys, redis] id, done in
            redis.run(RelayScripts.getSession, keys: [keys.sessionMeta(id)], [env.id, name]) { reply in
                switch reply.decoded(as: GetSessionReply.self) {
                case .failure(let error): done(.failure(error), false)
                case .success(.notThisName): done(.failure(.notFound("Session not found")), true)
                case .success(.row(let fields)): done(Result { try SessionRecord(fields: fields) }.mapError(asAPIError), false)
                }
            }
        }, completion)
    }

    public func update(in env: RelayEnvironment, _ name: String, _ request: UpdateSessionRequest,
                       _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        var args = [env.id, name]
        args += request.tags.map { ["1", jsonStringArray($0)] } ?? ["0", ""]
        switch request.metadata {
        case .absent: args += ["0", ""]
        case .set(let value): args += ["1", value.isNull ? "" : value.serialized()]
        }
        switch request.externalId {
        case .absent: args += ["0", "", "0"]
        case .set(let value): args += ["1", value ?? "", value == nil ? "1" : "0"]
        }
        args.append(String(retentionSeconds))
        names.withSession(env: env.id, name, notFound: { .failure(.notFound("Session not found")) }, { [weak self] id, done in
            guard let self else { return }
            let outbox = self.keys.outbox(session: id)
            self.beforeSessionWrite()
            self.redis.run(RelayScripts.updateSession, keys: [self.keys.sessionMeta(id), outbox], args) { reply in
                switch reply.decoded(as: UpdateSessionReply.self) {
                case .failure(let error): done(.failure(error), false)
                case .success(.updated(let write)): self.answer(write, outbox: outbox, done)
                case .success(.notFound): done(.failure(.notFound("Session not found")), true)
                case .success(.unprocessable): done(.failure(.unprocessable("externalId cannot be changed or cleared after create")), false)
                }
            }
        }, completion)
    }

    public func close(in env: RelayEnvironment, _ name: String, reason: String?,
                      _ completion: @escaping (Result<SessionRecord, APIError>) -> Void) {
        names.withSession(env: env.id, name, notFound: { .failure(.notFound("Session not found")) }, { [weak self] id, done in
            guard let self else { return }
            let outbox = self.keys.outbox(session: id)
            let scriptKeys = [self.keys.sessionMeta(id), self.keys.channel(session: id, io: .input),
                              self.keys.channel(session: id, io: .output), outbox]
            self.beforeSessionWrite()
            self.redis.run(RelayScripts.closeSession, keys: scriptKeys, [env.id, name, reason ?? "", String(self.retentionSeconds)]) { reply in
                switch reply.decoded(as: CloseSessionReply.self) {
                case .failure(let error): done(.failure(error), false)
                case .success(.closed(let write)): self.answer(write, outbox: outbox, done)
                case .success(.notFound): done(.failure(.notFound("Session not found")), true)
                }
            }
        }, completion)
    }

    /// One page: the environment's slot picks the session ids (list_sessions.lua), then each
    /// row is read from its own slot (in parallel; one round trip per shard in effect).
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
        let e = env.id
        // The filters' indexes in the order the script reads them from KEYS: types, tags, tasks.
        let filtered = query.types.map(SessionIndex.type) + query.tags.map(SessionIndex.tag)
            + query.taskIdentifiers.map(SessionIndex.task)
        let scriptKeys = [keys.indexStates(environment: e)] + keys.fixedIndexes(environment: e)
            + [keys.externalIds(environment: e)] + filtered.map { keys.index(environment: e, $0) }
        let args = [String(query.pageSize), mode, cursor,
                    query.createdFrom.map(String.init) ?? "", query.createdTo.map(String.init) ?? "",
                    filters.finish()]
        redis.run(RelayScripts.listSessions, keys: scriptKeys, args) { [weak self] reply in
            guard let self else { return }
            switch reply.decoded(as: ListSessionsReply.self) {
            case .failure(let error):
                completion(.failure(error))
            case .success(.badCursor):
                let name = mode == "after" ? "page[after]" : "page[before]"
                completion(.failure(.badRequest("\(name) does not name a session of this environment")))
            case .success(.page(let ids, let next, let previous)):
                self.rows(ids) { result in
                    completion(result.map { Page(rows: $0, next: next, previous: previous) })
                }
            }
        }
    }

    /// The rows of `ids`, in order; a row that is gone (its data expired since the index said
    /// otherwise) is left out.
    private func rows(_ ids: [String], _ completion: @escaping (Result<[SessionRecord], APIError>) -> Void) {
        guard !ids.isEmpty else { return completion(.success([])) }
        var rows = [SessionRecord?](repeating: nil, count: ids.count)
        var failure: APIError?
        var pending = ids.count
        for (i, id) in ids.enumerated() {
            let key = keys.sessionMeta(id)
            redis.send(key: key, ["HGETALL", key]) { reply in
                if let error = reply.apiError {
                    failure = error
                } else {
                    let fields = reply.fieldDictionary()
                    if !fields.isEmpty {
                        do { rows[i] = try SessionRecord(fields: fields) } catch { failure = asAPIError(error) }
                    }
                }
                pending -= 1
                guard pending == 0 else { return }
                if let failure { return completion(.failure(failure)) }
                completion(.success(rows.compactMap { $0 }))
            }
        }
    }

    /// Marks a run completed (the environment's slot holds the run record), then clears the
    /// session's currentRunId (its own slot); returns the session id. A worker retrying after a
    /// failure repeats both steps harmlessly.
    public func completeRun(in env: RelayEnvironment, _ runId: String,
                            _ completion: @escaping (Result<String, APIError>) -> Void) {
        redis.run(RelayScripts.completeRun, keys: [keys.run(environment: env.id, run: runId)], [env.id]) { [weak self] reply in
            guard let self else { return }
            switch reply.decoded(as: CompleteRunReply.self) {
            case .failure(let error): completion(.failure(error))
            case .success(.notFound): completion(.failure(.notFound("Run not found")))
            case .success(.completed(let sid)):
                self.redis.run(RelayScripts.finishRun, keys: [self.keys.sessionMeta(sid)], [runId]) { reply in
                    // Cleared or not (the session has moved on to another run), the run is complete.
                    completion(reply.decoded(as: FinishRunReply.self).map { _ in sid })
                }
            }
        }
    }

    /// The row a script wrote, answered once its outbox entry is forwarded.
    private func answer(_ write: SessionRowWrite, outbox: String,
                        _ done: @escaping (Result<SessionRecord, APIError>, Bool) -> Void) {
        let row = Result { try SessionRecord(fields: write.row) }.mapError(asAPIError)
        forwardThen(write.outboxEntry, outbox: outbox) { done(row, false) }
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
