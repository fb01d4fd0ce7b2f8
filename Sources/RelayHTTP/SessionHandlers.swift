// SessionHandlers: create, retrieve, list, update and close (docs/API.md, Sessions).
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

extension RelayServer {
    func createSession(_ exchange: HTTPExchange) {
        guard let principal = principal(exchange),
              let request = parsedBody(exchange, limit: BodyLimit.session, CreateSessionRequest.parse) else { return }
        if let denied = authorize(principal, .createSession(taskIdentifier: request.taskIdentifier)) {
            return respondError(exchange, denied)
        }
        let env = principal.environment
        store.create(in: env, request, readable: ReadableSessions(principal)) { [weak self] result in
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
        guard let principal = principal(exchange) else { return }
        withAuthorizedSession(exchange, principal, name, { .retrieveSession($0) }) { [weak self] _, record in
            self?.respondJSON(exchange, 200, record.rowJSON(nowMs: Clock.nowMilliseconds()))
        }
    }

    func listSessions(_ exchange: HTTPExchange) {
        guard let principal = principal(exchange) else { return }
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
        guard let principal = principal(exchange),
              let request = parsedBody(exchange, limit: BodyLimit.session, UpdateSessionRequest.parse) else { return }
        withAuthorizedSession(exchange, principal, name, { .updateSession($0) }) { [weak self] env, _ in
            self?.store.update(in: env, name, request) { result in self?.respondRow(exchange, result) }
        }
    }

    func closeSession(_ exchange: HTTPExchange, _ name: String) {
        guard let principal = principal(exchange),
              let request = parsedBody(exchange, limit: BodyLimit.close, CloseSessionRequest.parse) else { return }
        withAuthorizedSession(exchange, principal, name, { .closeSession($0) }) { [weak self] env, _ in
            self?.store.close(in: env, name, reason: request.reason) { result in self?.respondRow(exchange, result) }
        }
    }

    private func respondRow(_ exchange: HTTPExchange, _ result: Result<SessionRecord, APIError>) {
        switch result {
        case .failure(let error): respondError(exchange, error)
        case .success(let record): respondJSON(exchange, 200, record.rowJSON(nowMs: Clock.nowMilliseconds()))
        }
    }

    /// Loads the session named in the path and checks the operation against both of its
    /// spellings (friendly id and externalId). A caller who may not perform it gets one and the
    /// same 403, naming only the path's spelling, whether or not the session exists (see
    /// `authorize(_:_:path:session:)`); an allowed caller gets 404 for an unknown session.
    func withAuthorizedSession(_ exchange: HTTPExchange, _ principal: Principal, _ name: String,
                               shape: ErrorShape = .plain,
                               _ operation: @escaping (SessionNames) -> Operation,
                               _ then: @escaping (RelayEnvironment, SessionRecord) -> Void) {
        store.get(in: principal.environment, name) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                if error.status == 404, let denied = authorize(principal, operation, path: name, session: nil) {
                    return self.fail(exchange, denied, shape)
                }
                self.fail(exchange, error, shape)
            case .success(let record):
                if let denied = authorize(principal, operation, path: name, session: record.names) {
                    return self.fail(exchange, denied, shape)
                }
                then(principal.environment, record)
            }
        }
    }
}
