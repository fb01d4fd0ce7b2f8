// SessionHandlers: create, retrieve, list, update and close (SPEC section 2).
import RelayCore
import RelayIO
import RelayRedis

extension RelayServer {
    func createSession(_ exchange: HTTPExchange) {
        let principal: Principal
        let request: CreateSessionRequest
        switch authenticate(exchange) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let p): principal = p
        }
        switch body(exchange, limit: BodyLimit.session) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let bytes):
            do { request = try CreateSessionRequest.parse(bytes) } catch { return respondError(exchange, asAPIError(error)) }
        }
        if let denied = authorize(principal, .createSession(taskIdentifier: request.taskIdentifier)) {
            return respondError(exchange, denied)
        }
        let env = principal.environment
        store.create(in: env, request) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondError(exchange, error)
            case .success(.created(let record)): self.respondWithToken(exchange, 201, record, env: env, cached: false)
            case .success(.cached(let record)): self.respondWithToken(exchange, 200, record, env: env, cached: true)
            }
        }
    }

    private func respondWithToken(_ exchange: HTTPExchange, _ status: Int, _ record: SessionRecord, env: RelayEnvironment, cached: Bool) {
        let extra: [(String, String)] = [
            ("runId", record.currentRunId.map(jsonQuoted) ?? "null"),
            ("publicAccessToken", jsonQuoted(sessionToken(for: record, env: env))),
            ("isCached", cached ? "true" : "false"),
        ]
        respondJSON(exchange, status, record.rowJSON(nowMs: Clock.nowMilliseconds(), extra: extra))
    }

    /// A session-scoped public token: read and write on the session's key (externalId if set).
    func sessionToken(for record: SessionRecord, env: RelayEnvironment) -> String {
        let key = record.externalId ?? record.id
        return PublicToken.mint(environmentId: env.id, scopes: ["read:sessions:\(key)", "write:sessions:\(key)"],
                                secret: env.secretKeys[0], issuedAt: Clock.nowSeconds(), ttlSeconds: config.tokenTTLSeconds)
    }

    func retrieveSession(_ exchange: HTTPExchange, _ name: String) {
        withAuthorizedSession(exchange, name, { .retrieveSession($0) }) { [weak self] _, record in
            self?.respondJSON(exchange, 200, record.rowJSON(nowMs: Clock.nowMilliseconds()))
        }
    }

    func listSessions(_ exchange: HTTPExchange) {
        let principal: Principal
        switch authenticate(exchange) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let p): principal = p
        }
        if let denied = authorize(principal, .listSessions) { return respondError(exchange, denied) }
        let now = Clock.nowMilliseconds()
        let query: ListQuery
        do {
            query = try ListQuery.parse(QueryString.parse(exchange.query ?? ""), nowMs: now)
        } catch {
            return respondError(exchange, asAPIError(error))
        }
        store.list(in: principal.environment, query) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondError(exchange, error)
            case .success(let page):
                let rows = page.rows.map { $0.rowJSON(nowMs: now) }.joined(separator: ",")
                var pagination = JSONObjectWriter()
                pagination.optionalString("next", page.next)
                pagination.optionalString("previous", page.previous)
                self.respondJSON(exchange, 200, "{\"data\":[\(rows)],\"pagination\":\(pagination.finish())}")
            }
        }
    }

    func updateSession(_ exchange: HTTPExchange, _ name: String) {
        if case .failure(let error) = authenticate(exchange) { return respondError(exchange, error) }
        let request: UpdateSessionRequest
        switch body(exchange, limit: BodyLimit.session) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let bytes):
            do { request = try UpdateSessionRequest.parse(bytes) } catch { return respondError(exchange, asAPIError(error)) }
        }
        withAuthorizedSession(exchange, name, { .updateSession($0) }) { [weak self] env, _ in
            self?.store.update(in: env, name, request) { result in self?.respondRow(exchange, result) }
        }
    }

    func closeSession(_ exchange: HTTPExchange, _ name: String) {
        if case .failure(let error) = authenticate(exchange) { return respondError(exchange, error) }
        let request: CloseSessionRequest
        switch body(exchange, limit: BodyLimit.close) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let bytes):
            do { request = try CloseSessionRequest.parse(bytes) } catch { return respondError(exchange, asAPIError(error)) }
        }
        withAuthorizedSession(exchange, name, { .closeSession($0) }) { [weak self] env, _ in
            self?.store.close(in: env, name, reason: request.reason) { result in self?.respondRow(exchange, result) }
        }
    }

    private func respondRow(_ exchange: HTTPExchange, _ result: Result<SessionRecord, APIError>) {
        switch result {
        case .failure(let error): respondError(exchange, error)
        case .success(let record): respondJSON(exchange, 200, record.rowJSON(nowMs: Clock.nowMilliseconds()))
        }
    }

    /// Authenticates, loads the session named in the path and checks the operation against
    /// both of its spellings (friendly id and externalId). Unknown session: 404, unless the
    /// token could not have been allowed anyway (403), so a token learns nothing it may not see.
    func withAuthorizedSession(_ exchange: HTTPExchange, _ name: String, allowQueryToken: Bool = false,
                               _ operation: @escaping (SessionNames) -> Operation,
                               _ then: @escaping (RelayEnvironment, SessionRecord) -> Void) {
        let principal: Principal
        switch authenticate(exchange, allowQueryToken: allowQueryToken) {
        case .failure(let error): return respondError(exchange, error)
        case .success(let p): principal = p
        }
        store.get(in: principal.environment, name) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                let pathNames = FriendlyID.isSession(name)
                    ? SessionNames(friendlyId: name, externalId: nil)
                    : SessionNames(friendlyId: "", externalId: name)
                if error.status == 404, let denied = authorize(principal, operation(pathNames)) {
                    return self.respondError(exchange, denied)
                }
                self.respondError(exchange, error)
            case .success(let record):
                if let denied = authorize(principal, operation(record.names)) {
                    return self.respondError(exchange, denied)
                }
                then(principal.environment, record)
            }
        }
    }
}
