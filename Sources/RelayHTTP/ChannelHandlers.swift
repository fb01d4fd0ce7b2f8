// ChannelHandlers: append, control records, drain and SSE subscribe (docs/API.md, Channels).
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

extension RelayServer {
    func append(_ exchange: HTTPExchange, _ name: String, _ io: ChannelIO) {
        guard let principal = principal(exchange),
              let bytes = parsedBody(exchange, limit: BodyLimit.record, shape: .append, { $0 }) else { return }
        guard !bytes.isEmpty else { return respondAppendError(exchange, .badRequest("Record body must not be empty")) }
        let partId = exchange.header("X-Part-Id")
        if let partId, partId.isEmpty || partId.count > 256 {
            return respondAppendError(exchange, .badRequest("X-Part-Id must be 1-256 characters"))
        }
        let dataJSON: [UInt8]
        do {
            dataJSON = try RecordData.json(forBody: bytes)
        } catch {
            return respondAppendError(exchange, asAPIError(error))
        }
        let operation: (SessionNames) -> Operation = io == .input ? { .appendIn($0) } : { .appendOut($0) }
        let env = principal.environment
        let doAppend = { [weak self] in
            guard let self else { return }
            self.channels.append(in: env, session: name, io: io, dataJSON: dataJSON, partId: partId) { result in
                switch result {
                case .failure(let error): self.respondAppendError(exchange, error)
                case .success(let appended):
                    self.metrics.recordsAppended += 1
                    var w = JSONObjectWriter()
                    w.bool("ok", true)
                    w.int("seq", Int(appended.seq))
                    if appended.duplicate { w.bool("duplicate", true) }
                    self.respondJSON(exchange, 200, w.finish())
                }
            }
        }
        // A token naming the path's spelling is enough; otherwise look the session up to
        // check its other spelling (friendly id vs externalId).
        if authorize(principal, operation(SessionNames(path: name))) == nil { return doAppend() }
        withAuthorizedSession(exchange, principal, name, shape: .append, operation) { _, _ in doAppend() }
    }

    func control(_ exchange: HTTPExchange, _ name: String) {
        guard let principal = principal(exchange) else { return }
        // Public tokens may never write control records: say so before looking at the body.
        if !principal.isSecretKey { return respondAppendError(exchange, .forbidden("Control records need a secret key")) }
        guard let request = parsedBody(exchange, limit: BodyLimit.control, shape: .append, ControlRequest.parse) else { return }
        withAuthorizedSession(exchange, principal, name, { .control($0) }) { [weak self] env, record in
            guard let self else { return }
            var headers = [("trigger-control", request.subtype)] + request.headers.filter { $0.0 != "trigger-control" }
            let given = Set(request.headers.map { $0.0 })
            let turnComplete = request.subtype == "turn-complete"
            if turnComplete && !given.contains("public-access-token") {
                headers.append(("public-access-token", self.sessionToken(for: record, env: env)))
            }
            self.channels.appendControl(in: env, session: record.id, headersJSON: RecordEncoding.headersJSON(headers),
                                        addInEventId: turnComplete && !given.contains("session-in-event-id"),
                                        addLastEventId: turnComplete && !given.contains("last-event-id")) { result in
                switch result {
                case .failure(let error): self.respondAppendError(exchange, error)
                case .success(let appended):
                    self.metrics.recordsAppended += 1
                    self.respondJSON(exchange, 200, "{\"ok\":true,\"seq\":\(appended.seq)}")
                }
            }
        }
    }

    func drain(_ exchange: HTTPExchange, _ name: String, _ io: ChannelIO) {
        let params: (after: UInt64, limit: Int)
        let requestedFormat: StreamFormat?
        do {
            let query = QueryString.parse(exchange.query ?? "")
            params = try ChannelParams.drain(afterEventId: query.first { $0.0 == "afterEventId" }?.1,
                                             limit: query.first { $0.0 == "limit" }?.1)
            requestedFormat = try StreamFormat.requested(query.first { $0.0 == "format" }?.1)
        } catch {
            return respondError(exchange, asAPIError(error))
        }
        guard let principal = principal(exchange) else { return }
        let format = requestedFormat ?? principal.environment.streamFormat
        withAuthorizedSession(exchange, principal, name, { .readChannel($0) }) { [weak self] _, record in
            guard let self else { return }
            self.channels.drain(session: record.id, io: io, after: params.after, limit: params.limit) { result in
                switch result {
                case .failure(let error): self.respondError(exchange, error)
                case .success(let (page, hasMore)):
                    var body: [UInt8] = Array(#"{"records":["#.utf8)
                    var first = true
                    for record in page.records {
                        let json: [UInt8]?
                        switch format {
                        case .documented: json = record.isCommand ? nil : record.json(includeSeqNum: true)
                        case .v2: json = record.v2DrainJSON
                        }
                        guard let json else { continue }
                        if !first { body.append(UInt8(ascii: ",")) }
                        first = false
                        body.append(contentsOf: json)
                    }
                    body.append(contentsOf: "],\"hasMore\":\(hasMore)".utf8)
                    // afterEventId past the channel's end: a position from a lost history.
                    if page.records.isEmpty, let (after, before) = ChannelContinuity.pastEnd(position: params.after, last: page.last) {
                        body.append(contentsOf: #","lost":"#.utf8)
                        body.append(contentsOf: RecordEncoding.lostRange(after: after, before: before))
                    }
                    body.append(UInt8(ascii: "}"))
                    self.metrics.responded(status: 200)
                    exchange.respond(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")]
                                        + self.commonHeaders(exchange), body: body)
                }
            }
        }
    }

    func subscribe(_ exchange: HTTPExchange, _ name: String, _ io: ChannelIO) {
        let timeout: Int
        let resume: ChannelParams.ResumePoint
        let requestedFormat: StreamFormat?
        do {
            let query = QueryString.parse(exchange.query ?? "")
            timeout = try ChannelParams.timeoutSeconds(header: exchange.header("Timeout-Seconds"),
                                                       query: query.first { $0.0 == "timeoutSeconds" }?.1)
            resume = try ChannelParams.resumePoint(header: exchange.header("Last-Event-ID"),
                                                   query: query.first { $0.0 == "lastEventId" }?.1)
            requestedFormat = try StreamFormat.requested(query.first { $0.0 == "format" }?.1)
        } catch {
            return respondError(exchange, asAPIError(error))
        }
        let peekSettled = io == .output && ["1", "true"].contains(exchange.header("X-Peek-Settled") ?? "")
        if draining && exchange.method != .head {
            return respondError(exchange, .serviceUnavailable("This node is draining; reconnect"))
        }
        guard let principal = principal(exchange) else { return }
        let format = requestedFormat ?? principal.environment.streamFormat
        withAuthorizedSession(exchange, principal, name, { .readChannel($0) }) { [weak self] _, record in
            guard let self else { return }
            if exchange.method == .head { return self.answerLastEventId(exchange, session: record.id, io: io) }
            // Where the stream starts, and whether the turn is over (then it ends once caught up).
            self.streamStart(session: record.id, io: io, resume: resume, peekSettled: peekSettled) { result in
                switch result {
                case .failure(let error): self.respondError(exchange, error)
                case .success(let (lastEventId, settled)):
                    var headers = self.commonHeaders(exchange)
                    if peekSettled { headers.append(("X-Session-Settled", settled ? "true" : "false")) }
                    if format == .v2 { headers.append(("X-Stream-Version", "v2")) }
                    // Validated and authorized: the hub does the rest (the stream starts once the
                    // channel is subscribed and the first batch of the log is read).
                    self.hub.open(exchange, StreamOpening(
                        session: record.id, io: io, lastEventId: lastEventId,
                        endWhenCaughtUp: settled || record.status(nowMs: Clock.nowMilliseconds()) != .active,
                        idleSeconds: timeout, expiresAt: principal.expiresAt, headers: headers, framing: Framing(format),
                        refusal: { [weak self] in
                            self?.draining == true ? .serviceUnavailable("This node is draining; reconnect") : nil
                        },
                        refuse: { [weak self] error in self?.respondError(exchange, error) },
                        started: { [weak self] in self?.metrics.responded(status: 200) }))
                }
            }
        }
    }

    /// HEAD on a channel: its last id in `X-Last-Event-Id`, no body.
    private func answerLastEventId(_ exchange: HTTPExchange, session: String, io: ChannelIO) {
        channels.lastSeq(session: session, io: io) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondError(exchange, error)
            case .success(let seq):
                self.metrics.responded(status: 200)
                exchange.respond(status: 200, headers: [("X-Last-Event-Id", String(seq)), ("Cache-Control", "no-cache")]
                                    + self.commonHeaders(exchange), body: [])
            }
        }
    }

    /// The id the stream resumes after (`latest`: the channel's last id, read now; records
    /// appended after that read are caught up, since the hub subscribes before it reads), and,
    /// for X-Peek-Settled, whether the channel's last record is a turn-complete control record.
    private func streamStart(session: String, io: ChannelIO, resume: ChannelParams.ResumePoint, peekSettled: Bool,
                             _ done: @escaping (Result<(UInt64?, Bool), APIError>) -> Void) {
        let settledCheck: (@escaping (Result<Bool, APIError>) -> Void) -> Void = { [channels] next in
            guard peekSettled else { return next(.success(false)) }
            channels.lastRecord(session: session, io: io) { result in
                next(result.map { $0?.isTurnComplete ?? false })
            }
        }
        settledCheck { [channels] settled in
            switch (settled, resume) {
            case (.failure(let error), _): done(.failure(error))
            case (.success(let settled), .beginning): done(.success((nil, settled)))
            case (.success(let settled), .after(let id)): done(.success((id, settled)))
            case (.success(let settled), .latest):
                channels.lastSeq(session: session, io: io) { result in done(result.map { ($0, settled) }) }
            }
        }
    }
}
