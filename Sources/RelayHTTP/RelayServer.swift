// RelayServer: turns HTTP exchanges into API calls. It parses the route once, answers
// preflights and method errors, authenticates, enforces per-route body limits and dispatches
// to the handlers (one file per concern: sessions, runs, health).
import Logging
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

public struct RelayServerConfig: Sendable {
    public var environments: [RelayEnvironment]
    public var allowedOrigins: [String]
    public var requestLog: Bool
    public var tokenTTLSeconds: Int64
    /// Sent as X-Relay-Node on every response, so a client behind a balancer knows its node.
    public var nodeName: String
    /// The live status page and this node's heartbeat (StatusBoard); nil: off, and the status
    /// data routes answer 404.
    public var status: StatusSettings?
    /// The S2 records API and the credentials the PUT handshake hands out.
    public var s2 = S2Settings()

    public init(environments: [RelayEnvironment], allowedOrigins: [String] = ["*"], requestLog: Bool = false, tokenTTLSeconds: Int64 = 3600,
                nodeName: String = "", status: StatusSettings? = nil) {
        self.environments = environments
        self.allowedOrigins = allowedOrigins
        self.requestLog = requestLog
        self.tokenTTLSeconds = tokenTTLSeconds
        self.nodeName = nodeName
        self.status = status
    }
}

/// What the server reads from the parts around it, for /metrics and the status heartbeat.
public struct RelayServerReadings {
    /// Requests not yet answered, open streams included (the HTTP server counts them).
    public var openRequests: () -> Int
    /// The HTTP server's connection and refusal counts.
    public var httpCounters: () -> HTTPCountersSnapshot
    /// The metrics registry as Prometheus text (the executable bootstraps Prometheus).
    public var renderMetrics: () -> [UInt8]
    /// The index sweeper whose totals /metrics reports, if it runs.
    public var sweeper: IndexSweeper?

    public init(openRequests: @escaping () -> Int = { 0 },
                httpCounters: @escaping () -> HTTPCountersSnapshot = { HTTPCountersSnapshot() },
                renderMetrics: @escaping () -> [UInt8] = { [] }, sweeper: IndexSweeper? = nil) {
        self.openRequests = openRequests
        self.httpCounters = httpCounters
        self.renderMetrics = renderMetrics
        self.sweeper = sweeper
    }
}

public final class RelayServer {
    let config: RelayServerConfig
    let authenticator: Authenticator
    let store: SessionStore
    let channels: ChannelStore
    let hub: FanoutHub
    let redis: any RedisCommands
    let cors: CORSPolicy
    let logger: Logger
    let readings: RelayServerReadings
    public let metrics = ServerMetrics()
    let relayMetrics: RelayMetrics
    public private(set) var draining = false
    /// This node's heartbeat and status streams when `config.status` is set. Created here and
    /// started by the owner of the node's life cycle (it writes to Redis every second).
    public private(set) var status: StatusBoard?
    public var nodeName: String { config.nodeName }

    public init(config: RelayServerConfig, redis: any RedisCommands, store: SessionStore, channels: ChannelStore,
                hub: FanoutHub, readings: RelayServerReadings = RelayServerReadings(), logger: Logger) {
        self.config = config
        self.authenticator = Authenticator(environments: config.environments)
        self.redis = redis
        self.store = store
        self.channels = channels
        self.hub = hub
        self.cors = CORSPolicy(allowedOrigins: config.allowedOrigins)
        self.logger = logger
        self.readings = readings
        relayMetrics = RelayMetrics(sweeper: readings.sweeper)
        status = config.status.map { StatusBoard(server: self, settings: $0) }
    }

    /// Graceful shutdown: refuse new streams, say not-ready (/readyz 503), end open streams
    /// cleanly (clients resume elsewhere with Last-Event-ID).
    public func beginDrain() {
        draining = true
        hub.endAll()
    }

    /// What the head of a request decided, kept on the exchange for when its body has arrived.
    struct Admission {
        let route: Route
        let principal: Principal?
    }

    /// Runs when a request head has arrived, before its body is read: the route, the method,
    /// the credentials and the route's body limit are all settled here, so an unauthenticated
    /// or misrouted client never gets to make the relay hold its body.
    public func admit(_ exchange: HTTPExchange) -> HeadDecision {
        if config.requestLog {
            // Path only: query strings may carry tokens and are never logged.
            logger.info("request", metadata: ["method": "\(exchange.method.rawValue)", "path": "\(exchange.path)",
                                              "protocol": "\(exchange.isHTTP2 ? "HTTP/2" : "HTTP/1.\(exchange.minorVersion)")"])
        }
        guard let route = Route.parse(path: exchange.path) else {
            respondError(exchange, .notFound("No route for this path"))
            return .answered
        }
        if exchange.method == .options {
            let headers = cors.preflightHeaders(origin: exchange.header("Origin"), allowMethods: route.allowedMethods)
            metrics.responded(status: 204)
            exchange.respond(status: 204, headers: headers + [("Allow", (route.allowedMethods + ["OPTIONS"]).joined(separator: ", "))], body: [])
            return .answered
        }
        guard route.allowedMethods.contains(exchange.method.rawValue) else {
            respondError(exchange, .methodNotAllowed("Method \(exchange.method.rawValue) not allowed"),
                         extraHeaders: [("Allow", route.allowedMethods.joined(separator: ", "))])
            return .answered
        }
        var principal: Principal?
        if route.needsCredentials {
            var queryToken: String?
            if route.acceptsQueryToken, exchange.method == .get || exchange.method == .head, let query = exchange.query {
                queryToken = QueryString.parse(query).first { $0.0 == "token" }?.1
            }
            switch authenticator.authenticate(authorization: exchange.header("Authorization"), queryToken: queryToken,
                                              nowSeconds: Clock.nowSeconds()) {
            case .success(let caller): principal = caller
            case .failure(let error):
                fail(exchange, error, route.errorShape)
                return .answered
            }
        }
        exchange.attachment = Admission(route: route, principal: principal)
        // An S2 append session streams its frames (and is answered while they arrive).
        if case .s2Records = route, exchange.method == .post, S2Media.isSession(exchange.header("Content-Type")) {
            return .streamBody(limit: BodyLimit.s2Session)
        }
        return .readBody(limit: route.bodyLimit)
    }

    /// Answers a request the HTTP server refused (too large, malformed body, too slow, busy)
    /// in the error shape of its route.
    public func refuse(_ exchange: HTTPExchange, status: Int, message: String) {
        let shape = (exchange.attachment as? Admission)?.route.errorShape ?? .plain
        fail(exchange, APIError(status, message), shape)
    }

    /// Runs once the body has arrived (only for requests `admit` let through).
    public func handle(_ exchange: HTTPExchange) {
        guard let admission = exchange.attachment as? Admission else {
            return respondError(exchange, .internalError("request was not admitted"))
        }
        switch admission.route {
        case .healthz: respondJSON(exchange, 200, #"{"ok":true}"#)
        case .readyz: handleReady(exchange)
        case .metrics:
            relayMetrics.refresh(server: metrics, hub: hub, openRequests: readings.openRequests(), http: readings.httpCounters(),
                                 redisConnected: redis.isConnected, appendGroups: channels.appendGroupTotals)
            metrics.responded(status: 200)
            exchange.respond(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")] + commonHeaders(exchange),
                             body: readings.renderMetrics())
        case .demo: respondText(exchange, 200, "text/html; charset=utf-8", DemoPage.html)
        case .clientScript: serveClientScript(exchange)
        case .statusPage: serveStatusPage(exchange)
        case .statusJSON: serveStatusJSON(exchange)
        case .statusStream: serveStatusStream(exchange)
        case .sessions:
            if exchange.method == .post { createSession(exchange) } else { listSessions(exchange) }
        case .session(let name):
            if exchange.method == .patch { updateSession(exchange, name) } else { retrieveSession(exchange, name) }
        case .closeSession(let name): closeSession(exchange, name)
        case .completeRun(let run): completeRun(exchange, run)
        case .subscribe(let name, let io):
            if exchange.method == .put { initializeStream(exchange, name, io) } else { subscribe(exchange, name, io) }
        case .s2Records(let stream):
            if exchange.method == .post { s2Append(exchange, stream) } else { s2Read(exchange, stream) }
        case .s2Tail(let stream): s2Tail(exchange, stream)
        case .notServed(let what):
            respondError(exchange, APIError(501, "The relay does not serve \(what) (Trigger.dev platform feature); see docs/trigger-sdk.md"))
        case .append(let name, let io): append(exchange, name, io)
        case .records(let name, let io): drain(exchange, name, io)
        case .control(let name): control(exchange, name)
        }
    }

    /// How errors are answered: `{"error": ...}`, or `{"ok": false, "error": ...}` on channel writes.
    enum ErrorShape { case plain, append, s2 }

    func fail(_ exchange: HTTPExchange, _ error: APIError, _ shape: ErrorShape) {
        switch shape {
        case .plain: respondError(exchange, error)
        case .append: respondAppendError(exchange, error)
        case .s2: respondS2Error(exchange, error)
        }
    }

    /// The caller `admit` authenticated. Every route that calls this needs credentials, so
    /// the admission always has one; the 401 was answered before the body was read.
    func principal(_ exchange: HTTPExchange) -> Principal? {
        guard let principal = (exchange.attachment as? Admission)?.principal else {
            respondError(exchange, .internalError("request has no authenticated caller"))
            return nil
        }
        return principal
    }

    /// The body, parsed; nil once a 413 (over the route's `limit`) or the parser's 400 has been
    /// answered.
    func parsedBody<T>(_ exchange: HTTPExchange, limit: Int, shape: ErrorShape = .plain,
                       _ parse: ([UInt8]) throws -> T) -> T? {
        let bytes = exchange.body()
        // The server read at most the route's limit (Route.bodyLimit); this guards the handler
        // against a route table that says otherwise.
        guard bytes.count <= limit else {
            fail(exchange, .payloadTooLarge("Request body too large (at most \(limit) bytes)"), shape)
            return nil
        }
        do {
            return try parse(bytes)
        } catch {
            fail(exchange, asAPIError(error), shape)
            return nil
        }
    }

    /// Ready while this node is not draining and Redis answers both a command and on the live
    /// subscription connection.
    func handleReady(_ exchange: HTTPExchange) {
        if draining { return respondError(exchange, .serviceUnavailable("draining")) }
        guard hub.pubsub.isConnected else {
            return respondError(exchange, .serviceUnavailable("Redis pub/sub is unavailable"))
        }
        redis.send(key: nil, ["PING"]) { [weak self] reply in
            guard let self else { return }
            if reply.errorMessage == nil {
                self.respondJSON(exchange, 200, #"{"ok":true}"#)
            } else {
                self.respondError(exchange, .serviceUnavailable("Redis is unavailable"))
            }
        }
    }

}
