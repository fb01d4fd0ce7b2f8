// S2Handlers: the S2-compatible records API (docs/trigger-sdk.md) and the PUT handshake that
// hands out its credentials. An S2 stream is a session's channel, named
// `sessions/{session}/{in|out}`: an S2 append is an append to the channel (same seqs, same
// fan-out, same cluster layout as POST …/append), an S2 read reads the channel.
import RelayCore
import RelayIO
import RelayStorage

/// What the PUT handshake hands out, and the basin the S2 routes answer to.
public struct S2Settings: Sendable {
    /// The one basin name (S2's rule: 8-48 of a-z, 0-9 and '-', no '-' at either end).
    public var basin = "relay-sessions"
    /// X-S2-Endpoint; nil: this node, as the request reached it (`{scheme}://{Host}/s2/v1`).
    public var endpoint: String?
    /// How long an S2 access token lives.
    public var tokenTTLSeconds: Int64 = 900
    /// X-S2-Flush-Interval-Ms: how long the SDK's writer gathers records into one batch.
    public var flushIntervalMs = 100
    /// "https" when this node serves TLS.
    public var scheme = "http"

    public init() {}

    public static func isValidBasin(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (8...48).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// The first media type of a Content-Type or Accept header, which is all S2 looks at.
enum S2Media {
    static func first(_ header: String?) -> Substring {
        guard let header else { return "" }
        let end = header.firstIndex { $0 == "," || $0 == ";" } ?? header.endIndex
        var type = header[..<end]
        while type.first == " " || type.first == "\t" { type = type.dropFirst() }
        while type.last == " " || type.last == "\t" { type = type.dropLast() }
        return type
    }

    static func isSession(_ header: String?) -> Bool { first(header).lowercased() == "s2s/proto" }

    static func isProtobuf(_ header: String?) -> Bool {
        let type = first(header).lowercased()
        return type == "application/protobuf" || type == "application/x-protobuf"
    }

    static func isEventStream(_ header: String?) -> Bool { first(header).lowercased() == "text/event-stream" }
}

/// An S2 stream the caller may use: the session's name as the path gave it, and the channel.
struct S2Target {
    let session: String
    let io: ChannelIO
    let environment: RelayEnvironment

    /// `sessions/{name}/{in|out}` (a leading '/' is allowed, as the Trigger.dev webapp spells it).
    static func parse(streamName: String) -> (session: String, io: ChannelIO)? {
        var name = Substring(streamName)
        if name.first == "/" { name = name.dropFirst() }
        guard name.hasPrefix("sessions/"), let slash = name.lastIndex(of: "/") else { return nil }
        let session = name[name.index(name.startIndex, offsetBy: 9)..<slash]
        guard !session.isEmpty, let io = ChannelIO(rawValue: String(name[name.index(after: slash)...])) else { return nil }
        return (String(session), io)
    }

    /// The scope of an S2 access token for one channel (a public token with only this scope
    /// opens nothing else: no route of the session API asks for the action "s2").
    static func scope(session: String, io: ChannelIO) -> String { "s2:streams:sessions/\(session)/\(io.rawValue)" }
}

extension RelayServer {
    // MARK: The PUT handshake

    /// `PUT /realtime/v1/sessions/{session}/{io}`: credentials for writing the channel through
    /// the S2 API, as the Trigger.dev webapp hands them to its SDK (202 {"version":"v2"} and
    /// X-S2-* headers). Both channels need a secret key (the SDK asks for `.out` only).
    func initializeStream(_ exchange: HTTPExchange, _ name: String, _ io: ChannelIO) {
        guard let principal = principal(exchange) else { return }
        // A secret key only: an S2 token may also read, trim and fence its stream and write
        // control records, which no public token may do to a channel.
        if !principal.isSecretKey {
            return respondError(exchange, .forbidden("S2 credentials need a secret key"))
        }
        withAuthorizedSession(exchange, principal, name, { io == .output ? .appendOut($0) : .appendIn($0) }) { [weak self] env, record in
            guard let self else { return }
            if record.status(nowMs: Clock.nowMilliseconds()) != .active {
                return self.respondError(exchange, .badRequest("Cannot write to a closed or expired session"))
            }
            let stream = "sessions/\(record.id)/\(io.rawValue)"
            let token = PublicToken.mint(environmentId: env.id, scopes: [S2Target.scope(session: record.id, io: io)],
                                         secret: env.secretKeys[0], issuedAt: Clock.nowSeconds(),
                                         ttlSeconds: self.config.s2.tokenTTLSeconds)
            let endpoint = self.config.s2.endpoint
                ?? "\(self.config.s2.scheme)://\(exchange.header("Host") ?? "127.0.0.1")/s2/v1"
            self.respondJSON(exchange, 202, #"{"version":"v2"}"#, extraHeaders: [
                ("X-S2-Access-Token", token), ("X-S2-Basin", self.config.s2.basin), ("X-S2-Stream-Name", stream),
                ("X-S2-Endpoint", endpoint), ("X-S2-Flush-Interval-Ms", String(self.config.s2.flushIntervalMs)),
                ("Cache-Control", "no-store"),
            ])
        }
    }

    // MARK: Access

    /// The channel behind `stream`, if the caller may use it: a secret key any of its
    /// environment's, an S2 access token exactly its own. The basin, when named, must be ours.
    func s2Target(_ exchange: HTTPExchange, _ stream: String) -> S2Target? {
        guard let principal = principal(exchange) else { return nil }
        if let basin = exchange.header("s2-basin"), basin != config.s2.basin {
            respondS2Error(exchange, APIError(404, "Basin not found", detail: "basin_not_found"))
            return nil
        }
        guard let (session, io) = S2Target.parse(streamName: stream) else {
            respondS2Error(exchange, APIError(404, "Stream not found: streams here are sessions/{session}/{in|out}"))
            return nil
        }
        if case .publicToken(_, let scopes, _) = principal, !scopes.contains(S2Target.scope(session: session, io: io)) {
            respondS2Error(exchange, .forbidden("This token does not grant access to the stream"))
            return nil
        }
        return S2Target(session: session, io: io, environment: principal.environment)
    }

    // MARK: Appends

    /// POST …/records: a unary append (JSON, or protobuf), or an append session (s2s/proto).
    func s2Append(_ exchange: HTTPExchange, _ stream: String) {
        guard let target = s2Target(exchange, stream) else {
            exchange.onBodyEnd = { _ in }
            return
        }
        if S2Media.isSession(exchange.header("Content-Type")) {
            let expiresAt = principal(exchange)?.expiresAt
            return S2AppendSession(server: self, exchange: exchange, target: target,
                                   expiresAt: expiresAt == .max ? nil : expiresAt).start()
        }
        guard let format = S2Format.parse(exchange.header("s2-format")) else {
            return respondS2Error(exchange, APIError(400, "s2-format must be raw or base64", detail: "bad_header"))
        }
        let bytes = exchange.body()
        let input: S2AppendInput
        do {
            if S2Media.isProtobuf(exchange.header("Content-Type")) {
                do { input = try S2AppendInput(protobuf: bytes[...]) } catch { throw APIError(400, "Invalid protobuf: \(error.reason)") }
            } else {
                input = try S2AppendInput(json: bytes, format: format)
            }
        } catch {
            return respondS2Error(exchange, asAPIError(error))
        }
        let replyAsProtobuf = S2Media.isProtobuf(exchange.header("Accept"))
        s2AppendInput(input, target) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondS2Error(exchange, error)
            case .success(let ack):
                self.metrics.responded(status: 200)
                if replyAsProtobuf {
                    exchange.respond(status: 200, headers: [("Content-Type", "application/protobuf")] + self.commonHeaders(exchange),
                                     body: ack.protobuf)
                } else {
                    exchange.respond(status: 200, headers: [("Content-Type", "application/json")] + self.commonHeaders(exchange),
                                     body: ack.json)
                }
            }
        }
    }

    /// Checks one AppendInput against S2's limits and appends it to the channel, all or nothing.
    func s2AppendInput(_ input: S2AppendInput, _ target: S2Target, _ done: @escaping (Result<S2AppendAck, APIError>) -> Void) {
        guard !input.records.isEmpty, input.records.count <= S2Limits.maxRecordsPerBatch else {
            return done(.failure(.unprocessable("An append holds 1 to \(S2Limits.maxRecordsPerBatch) records")))
        }
        guard input.records.reduce(0, { $0 + $1.meteredBytes }) <= S2Limits.maxBatchBytes else {
            return done(.failure(.unprocessable("An append holds at most \(S2Limits.maxBatchBytes) metered bytes")))
        }
        if let token = input.fencingToken, token.utf8.count > S2Limits.maxFencingTokenBytes {
            return done(.failure(.unprocessable("A fencing token is at most \(S2Limits.maxFencingTokenBytes) bytes")))
        }
        let records: [S2StoredRecord]
        do {
            records = try input.records.map { record throws(APIError) in try S2StoredRecord(record) }
        } catch {
            return done(.failure(error))
        }
        channels.appendBatch(in: target.environment, session: target.session, io: target.io, records: records,
                             matchSeqNum: input.matchSeqNum, fencingToken: input.fencingToken) { [weak self] result in
            done(result.map { written in
                self?.metrics.recordsAppended += records.count
                let time = written.time
                return S2AppendAck(start: S2Position(seqNum: written.firstSeq, timestamp: time),
                                   end: S2Position(seqNum: written.lastSeq + 1, timestamp: time),
                                   tail: S2Position(seqNum: written.lastSeq + 1, timestamp: time))
            })
        }
    }

    // MARK: Reads

    /// GET …/records/tail: `{"tail":{"seq_num":N,"timestamp":MS}}`, N the next seq.
    func s2Tail(_ exchange: HTTPExchange, _ stream: String) {
        guard let target = s2Target(exchange, stream) else { return }
        s2Page(target, after: 0, count: 0) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondS2Error(exchange, error)
            case .success(let page):
                var body: [UInt8] = Array(#"{"tail":"#.utf8)
                SSEFrame.appendPosition(seq: page.highWatermark + 1, time: page.lastTime, to: &body)
                body.append(0x7D)
                self.metrics.responded(status: 200)
                exchange.respond(status: 200, headers: [("Content-Type", "application/json")] + self.commonHeaders(exchange), body: body)
            }
        }
    }

    /// Reads the channel after `after` (resolving the session's name first).
    private func s2Page(_ target: S2Target, after: UInt64, count: Int, _ done: @escaping (Result<ChannelPage, APIError>) -> Void) {
        store.get(in: target.environment, target.session) { [channels] result in
            switch result {
            case .failure(let error): done(.failure(error.status == 404 ? APIError(404, "Stream not found") : error))
            case .success(let record): channels.range(session: record.id, io: target.io, after: after, count: count, done)
            }
        }
    }

    /// GET …/records: a read session (`Content-Type: s2s/proto`) or SSE (`Accept:
    /// text/event-stream`, the v2 framing), both live; or one batch as JSON or protobuf.
    func s2Read(_ exchange: HTTPExchange, _ stream: String) {
        guard let target = s2Target(exchange, stream) else { return }
        let query: S2ReadQuery
        do {
            query = try S2ReadQuery(QueryString.parse(exchange.query ?? ""), lastEventId: exchange.header("Last-Event-ID"))
        } catch {
            return respondS2Error(exchange, error)
        }
        if S2Media.isSession(exchange.header("Content-Type")) { return s2ReadEvents(exchange, target, query, framing: .s2s) }
        if S2Media.isEventStream(exchange.header("Accept")) { return s2ReadEvents(exchange, target, query, framing: .v2) }
        guard let format = S2Format.parse(exchange.header("s2-format")) else {
            return respondS2Error(exchange, APIError(400, "s2-format must be raw or base64", detail: "bad_header"))
        }
        let asProtobuf = S2Media.isProtobuf(exchange.header("Accept"))
        // Where the read starts needs the tail when it counts back from it.
        let startAfter: (@escaping (Result<UInt64, APIError>) -> Void) -> Void = { [weak self] next in
            switch query.start {
            case .seqNum(let seq): next(.success(seq == 0 ? 0 : seq - 1))
            case .tailOffset(let offset):
                self?.s2Page(target, after: 0, count: 0) { result in
                    next(result.map { page in page.highWatermark > offset ? page.highWatermark - offset : 0 })
                }
            }
        }
        startAfter { [weak self] result in
            guard let self else { return }
            guard case .success(let after) = result else {
                if case .failure(let error) = result { self.respondS2Error(exchange, error) }
                return
            }
            self.s2Page(target, after: after, count: query.count) { result in
                switch result {
                case .failure(let error): self.respondS2Error(exchange, error)
                case .success(let page):
                    let tail = S2Position(seqNum: page.highWatermark + 1, timestamp: page.lastTime)
                    if after > page.highWatermark && !query.clamp {
                        var body: [UInt8] = Array(#"{"tail":"#.utf8)
                        tail.appendJSON(to: &body)
                        body.append(0x7D)
                        return self.respondS2JSON(exchange, 416, body)
                    }
                    var records: [S2SequencedRecord] = []
                    var bytes = 0
                    for stored in page.records {
                        let record = stored.s2Record
                        bytes += 8 + record.body.count + record.headers.reduce(0) { $0 + 2 + $1.name.count + $1.value.count }
                        if bytes > query.bytes && !records.isEmpty { break }
                        records.append(record)
                    }
                    self.metrics.responded(status: 200)
                    if asProtobuf {
                        exchange.respond(status: 200, headers: [("Content-Type", "application/protobuf")] + self.commonHeaders(exchange),
                                         body: S2ReadBatch.protobuf(records: records, tail: tail))
                    } else {
                        exchange.respond(status: 200, headers: [("Content-Type", "application/json")] + self.commonHeaders(exchange),
                                         body: S2ReadBatch.json(records: records, tail: tail, format: format))
                    }
                }
            }
        }
    }

    /// A live read: the channel's stream in the v2 framing (the same events the session stream
    /// sends in that format) or in S2S frames, from the start asked, until `count` records or
    /// `wait` seconds without one (then it ends normally).
    private func s2ReadEvents(_ exchange: HTTPExchange, _ target: S2Target, _ query: S2ReadQuery, framing: Framing) {
        if draining { return respondS2Error(exchange, .serviceUnavailable("This node is draining; reconnect")) }
        store.get(in: target.environment, target.session) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondS2Error(exchange, error.status == 404 ? APIError(404, "Stream not found") : error)
            case .success(let record):
                let open = { (lastEventId: UInt64?) in
                    self.hub.open(exchange, StreamOpening(
                        session: record.id, io: target.io, lastEventId: lastEventId,
                        endWhenCaughtUp: query.waitSeconds == 0 || record.status(nowMs: Clock.nowMilliseconds()) != .active,
                        idleSeconds: max(1, query.waitSeconds), expiresAt: (self.principal(exchange)?.expiresAt).flatMap { $0 == .max ? nil : $0 },
                        headers: self.commonHeaders(exchange) + (framing == .v2 ? [("X-Stream-Version", "v2")] : []),
                        framing: framing, recordLimit: query.liveCount,
                        refusal: { [weak self] in
                            self?.draining == true ? .serviceUnavailable("This node is draining; reconnect") : nil
                        },
                        refuse: { [weak self] error in self?.respondS2Error(exchange, error) },
                        started: { [weak self] in self?.metrics.responded(status: 200) }))
                }
                switch query.start {
                case .seqNum(let seq): open(seq == 0 ? nil : seq - 1)
                case .tailOffset(let offset):
                    self.channels.lastSeq(session: record.id, io: target.io) { result in
                        switch result {
                        case .failure(let error): self.respondS2Error(exchange, error)
                        case .success(let last): open(last > offset ? last - offset : 0)
                        }
                    }
                }
            }
        }
    }

    // MARK: Errors

    /// S2's error bodies: `{"code":…,"message":…}`, and for a failed append condition (412)
    /// `{"seq_num_mismatch":N}` or `{"fencing_token_mismatch":"…"}`.
    func respondS2Error(_ exchange: HTTPExchange, _ error: APIError) {
        respondS2JSON(exchange, error.status, S2ErrorBody.json(error))
    }

    func respondS2JSON(_ exchange: HTTPExchange, _ status: Int, _ body: [UInt8]) {
        metrics.responded(status: status)
        exchange.respond(status: status, headers: [("Content-Type", "application/json")] + commonHeaders(exchange), body: body)
    }
}

/// S2's JSON error body for an APIError (also the body of an S2S terminal frame).
enum S2ErrorBody {
    static func json(_ error: APIError) -> [UInt8] {
        if error.status == 412, let detail = error.detail, let colon = detail.firstIndex(of: ":") {
            let key = String(detail[..<colon]), value = String(detail[detail.index(after: colon)...])
            var w = JSONObjectWriter()
            if key == "seq_num_mismatch", let seq = Int(value) { w.int(key, seq) } else { w.string(key, value) }
            return w.finishBytes()
        }
        var w = JSONObjectWriter()
        w.string("code", code(error))
        w.string("message", error.status >= 500 && error.status != 501 && error.status != 503 ? APIError.internalErrorMessage : error.message)
        return w.finishBytes()
    }

    static func code(_ error: APIError) -> String {
        if let detail = error.detail, ["basin_not_found", "bad_header", "bad_frame", "bad_proto"].contains(detail) { return detail }
        switch error.status {
        case 400: return "bad_request"
        case 401: return "authn"
        case 403: return "permission_denied"
        case 404: return "stream_not_found"
        case 408: return "request_timeout"
        case 413, 422: return "invalid"
        case 429: return "rate_limited"
        case 501: return "not_implemented"
        case 503: return "unavailable"
        default: return error.status >= 500 ? "other" : "invalid"
        }
    }
}

/// Where an S2 read starts and how much it takes (S2's query parameters).
struct S2ReadQuery {
    enum Start { case seqNum(UInt64), tailOffset(UInt64) }
    var start: Start = .tailOffset(0)
    var count = S2Limits.maxRecordsPerBatch
    var bytes = S2Limits.maxBatchBytes
    var clamp = false
    /// A live read ends after this many records (`count`, uncapped); nil: no limit.
    var liveCount: Int?
    /// Live reads: seconds without a record before the stream ends.
    var waitSeconds = 60

    init(_ query: [(String, String)], lastEventId: String?) throws(APIError) {
        func number(_ name: String) throws(APIError) -> UInt64? {
            guard let text = query.first(where: { $0.0 == name })?.1 else { return nil }
            guard let value = JSONBytes.parseDecimal(text.utf8) else { throw APIError(400, "\(name) must be a non-negative integer") }
            return value
        }
        let seq = try number("seq_num"), offset = try number("tail_offset")
        if try number("timestamp") != nil || query.contains(where: { $0.0 == "until" }) {
            throw APIError(422, "Reads by timestamp are not served here; read by seq_num or tail_offset")
        }
        guard seq == nil || offset == nil else { throw APIError(422, "Give at most one of seq_num and tail_offset") }
        if let seq { start = .seqNum(seq) } else if let offset { start = .tailOffset(offset) }
        // S2's SSE resume: "seq,count,bytes" of the last batch seen.
        if let lastEventId, let first = lastEventId.split(separator: ",").first, let seen = JSONBytes.parseDecimal(first.utf8) {
            guard seen < UInt64(1) << 53 else { throw APIError(400, "Last-Event-ID is past any seq") }
            start = .seqNum(seen + 1)
        }
        if let count = try number("count") {
            liveCount = Int(min(max(count, 1), UInt64(Int.max)))
            self.count = Int(min(max(count, 1), UInt64(S2Limits.maxRecordsPerBatch)))
        }
        if let bytes = try number("bytes") { self.bytes = Int(min(max(bytes, 1), UInt64(S2Limits.maxBatchBytes))) }
        if let clamp = query.first(where: { $0.0 == "clamp" })?.1 { self.clamp = clamp == "true" }
        if let wait = try number("wait") { waitSeconds = Int(min(wait, 600)) }
    }
}

extension StoredRecord {
    /// The record as S2 reads give it (headers parsed from their JSON text).
    var s2Record: S2SequencedRecord {
        var headers: [S2Header] = []
        if let json = s2HeadersJSON, let value = try? JSONParser.parse(json), let pairs = value.arrayValue {
            for pair in pairs {
                guard let parts = pair.arrayValue, parts.count == 2, let name = parts[0].stringValue,
                      let value = parts[1].stringValue else { continue }
                headers.append(S2Header(name: Array(name.utf8), value: Array(value.utf8)))
            }
        }
        return S2SequencedRecord(seqNum: seq, timestamp: time, headers: headers, body: s2Body ?? [])
    }
}
