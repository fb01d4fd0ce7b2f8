// HTTPServer: the relay's HTTP server, on libevent listeners and bufferevents: HTTP/1.1, and
// HTTP/2 on the same port (a connection that opens with the HTTP/2 preface, or a TLS connection
// whose ALPN chose "h2"; see HTTP2Connection). TLS is optional (`useTLS`).
//
// It parses requests itself (RelayWire's HTTPRequestHead and ChunkedBodyDecoder) rather than
// through evhttp, because facing the internet needs decisions evhttp 2.1 does not let a server
// make: refuse ambiguous framing and control bytes before anything reads a header, decide the
// route and check credentials when the head arrives and before the body is read, bound the
// time a request head and a body may take (every byte restarting a timer is what slowloris
// feeds on), cap the body bytes held across all connections and the connections themselves,
// and back off instead of spinning when accept() runs out of descriptors.
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims

public enum HTTPServerError: Error, CustomStringConvertible {
    case bind(String)
    case tls(String)
    public var description: String {
        switch self { case .bind(let m), .tls(let m): return m }
    }
}

/// The bounds every connection lives within.
public struct HTTPServerLimits: Sendable {
    /// The request line and header fields together.
    public var maxHeadBytes = 16 * 1024
    /// From the first byte of a request to the end of its head.
    public var headTimeoutSeconds: Double = 10
    /// From the end of the head to the end of the body.
    public var bodyTimeoutSeconds: Double = 30
    /// How long a connection may wait for its next request (also a new connection's first byte).
    public var keepAliveTimeoutSeconds: Double = 15
    /// How long a response may sit unsent because the client does not read.
    public var writeTimeoutSeconds: Double = 60
    /// Open connections per process; beyond it new connections get a 503 and are closed.
    public var maxConnections = 16_000
    /// Request body bytes held in memory across all connections; beyond it, 503.
    public var maxBufferedBodyBytes = 64 << 20
    /// After accept() fails for want of descriptors, how long the listener rests.
    public var acceptBackoffSeconds: Double = 0.25
    /// HTTP/2: streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var http2MaxConcurrentStreams = 128
    /// HTTP/2: RST_STREAM frames a client may send in a burst, and then per second, before
    /// its connection is closed (rapid reset, CVE-2023-44487).
    public var http2ResetBurst = 200
    public var http2ResetsPerSecond = 50

    public init() {}
}

/// What the server counts, for /metrics.
public struct HTTPServerCounters: Sendable {
    public var acceptErrors = 0
    public var refusedOverCap = 0
    public var headTimeouts = 0
    public var bodyTimeouts = 0
    public var idleTimeouts = 0
    public var writeTimeouts = 0
    public var malformedRequests = 0
    public var refusedBodyBudget = 0
    /// HTTP/2 connections and streams opened.
    public var http2Connections = 0
    public var http2Streams = 0
    /// RST_STREAM frames received from clients.
    public var http2ResetsReceived = 0
    /// Connections closed for a flood of control frames (SETTINGS, PING, PRIORITY, empty DATA)
    /// or of unread acknowledgements.
    public var http2Floods = 0
    /// GOAWAY frames sent with ENHANCE_YOUR_CALM (floods and rapid resets).
    public var http2CalmGoaways = 0
    /// Connections ended by a protocol error.
    public var http2ProtocolErrors = 0
    /// Streams reset because their flow-control window stayed shut past the write timeout.
    public var http2StalledStreams = 0
    /// TLS handshakes that failed or timed out.
    public var tlsHandshakeFailures = 0

    public init() {}
}

/// The server's verdict on a request head, before its body is read.
public enum HeadDecision {
    /// Read a body of at most this many bytes, then call `onRequest`.
    case readBody(limit: Int)
    /// Call `onRequest` now and hand the body to the exchange piece by piece as it arrives
    /// (`HTTPExchange.onBodyChunk`), at most `limit` bytes in all, each piece within the body
    /// timeout of the one before. The handler may answer (or start a stream) meanwhile: over
    /// HTTP/2 the body keeps arriving while the response is written (full duplex).
    case streamBody(limit: Int)
    /// The exchange has been answered (an error); the body is not read.
    case answered
}

public final class HTTPServer {
    let loop: EventLoop
    let limits: HTTPServerLimits
    private var listeners: [OpaquePointer] = []
    /// An array, not a dictionary (16 bytes a connection): each connection knows its place
    /// (`tableIndex`), so removing one is O(1).
    private var connections: [ServerConnection] = []
    /// The TLS context when the server speaks TLS; every connection then starts a handshake.
    private var tls: TLSContext?
    private var resumeTimer: LoopTimer?
    private var lastAcceptReport = 0.0
    private var acceptErrorsSinceReport = 0
    /// Requests not yet answered, open streams included.
    public private(set) var outstanding = 0
    public private(set) var counters = HTTPServerCounters()
    /// Request body bytes buffered now, across connections.
    public private(set) var bufferedBodyBytes = 0
    public var openConnections: Int { connections.count }
    /// HTTP/1.1 streams parked while idle (HTTPConnection): no bufferevent, no timer.
    public internal(set) var parkedStreams = 0
    /// When set, answered requests close their connection (a draining node sheds keep-alive
    /// clients), and HTTP/2 connections are told to go away (GOAWAY).
    public var closeAfterEveryResponse = false {
        didSet { if closeAfterEveryResponse { for connection in connections { connection.drain() } } }
    }

    let headTimeout: CommonTimeout?
    let bodyTimeout: CommonTimeout?
    let idleTimeout: CommonTimeout?
    let lingerTimeout: CommonTimeout?

    /// Called when a request head has arrived: decide from the route and the credentials
    /// whether to read the body, and how much of it, or answer at once.
    public var onHead: (HTTPExchange) -> HeadDecision = { _ in .readBody(limit: 1 << 20) }
    /// Called once per request whose body has been read, on the loop thread.
    public var onRequest: (HTTPExchange) -> Void = { $0.respond(status: 404, headers: [], body: []) }
    /// Answers a request the server refuses itself (malformed, too large, too slow, busy).
    /// The default answers `{"error": message}`; the relay sets its own error shape.
    public var onRefusal: (HTTPExchange, Int, String) -> Void = { exchange, status, message in
        exchange.respond(status: status, headers: [("Content-Type", "application/json; charset=utf-8")],
                         body: Array(("{\"error\":\"" + message + "\"}").utf8))
    }
    /// A refused request whose head could not be parsed has no exchange to answer through.
    var plainRefusal: (Int, String) -> [UInt8] = { status, message in
        Array(("{\"error\":\"" + message + "\"}").utf8)
    }
    /// Rate-limited warnings (at most one a second per kind, with a count).
    public var onWarning: (String) -> Void = { _ in }

    public init(loop: EventLoop, limits: HTTPServerLimits = HTTPServerLimits()) {
        self.loop = loop
        self.limits = limits
        headTimeout = loop.commonTimeout(limits.headTimeoutSeconds)
        bodyTimeout = loop.commonTimeout(limits.bodyTimeoutSeconds)
        idleTimeout = loop.commonTimeout(limits.keepAliveTimeoutSeconds)
        lingerTimeout = loop.commonTimeout(2)
    }

    /// Connections hold the server, so it is only freed once every connection has closed.
    deinit {
        for handle in listeners { evconnlistener_free(handle) }
    }

    /// Binds and listens; returns the port (useful with port 0). `reusePort` lets several
    /// processes share one port (SO_REUSEPORT); the kernel spreads connections among them.
    @discardableResult
    public func listen(host: String, port: UInt16, reusePort: Bool = false, backlog: Int32 = 4096) throws -> Int {
        let fd = relay_listen_socket(host, port, reusePort ? 1 : 0, backlog)
        guard fd >= 0 else { throw HTTPServerError.bind("cannot listen on \(host):\(port)") }
        // Backlog 0: the socket is listening already.
        guard let listener = evconnlistener_new(loop.base, { _, fd, _, _, arg in
            Unmanaged<HTTPServer>.fromOpaque(arg!).takeUnretainedValue().accepted(fd)
        }, Unmanaged.passUnretained(self).toOpaque(), UInt32(LEV_OPT_CLOSE_ON_FREE), 0, fd) else {
            evutil_closesocket(fd)
            throw HTTPServerError.bind("cannot accept on \(host):\(port)")
        }
        evconnlistener_set_error_cb(listener, { listener, arg in
            Unmanaged<HTTPServer>.fromOpaque(arg!).takeUnretainedValue().acceptFailed()
        })
        listeners.append(listener)
        return Int(relay_socket_port(fd))
    }

    /// Stops accepting new connections; open connections are left alone.
    public func stopListening() {
        resumeTimer?.cancel()
        for handle in listeners { evconnlistener_free(handle) }
        listeners.removeAll()
    }

    private func accepted(_ fd: Int32) {
        guard connections.count < limits.maxConnections else {
            // Over the cap: answer at once while a descriptor is still there to answer with.
            counters.refusedOverCap += 1
            let body = plainRefusal(503, "Too many connections, try again")
            let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                + "Content-Length: \(body.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            let bytes = Array(head.utf8) + body
            bytes.withUnsafeBufferPointer { relay_send_and_close(fd, $0.baseAddress, UInt($0.count)) }
            warn("connections over the cap of \(limits.maxConnections) refused", &counters.refusedOverCap)
            return
        }
        if let tls {
            guard let handshake = TLSHandshake(server: self, context: tls, fd: fd) else {
                evutil_closesocket(fd)
                return
            }
            track(handshake)
            return handshake.start()
        }
        guard let bev = bufferevent_socket_new(loop.base, fd, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else {
            evutil_closesocket(fd)
            return
        }
        start(HTTPConnection(server: self, bev: bev, tls: false))
    }

    private func start(_ connection: HTTPConnection) {
        track(connection)
        connection.start()
    }

    /// Serves HTTPS from now on: `certFile` (PEM, the chain) and `keyFile` (PEM). ALPN offers
    /// "h2" and "http/1.1".
    public func useTLS(certFile: String, keyFile: String) throws {
        tls = try TLSContext(certFile: certFile, keyFile: keyFile)
    }

    public var servesTLS: Bool { tls != nil }

    /// A connection speaks HTTP/2 from here on (the h2c preface arrived, or ALPN chose "h2").
    func startHTTP2(bev: OpaquePointer, tls: Bool) {
        let connection = HTTP2Connection(server: self, bev: bev, tls: tls)
        track(connection)
        connection.start()
    }

    /// A TLS handshake finished: ALPN picked the protocol.
    func handshakeFinished(_ handshake: TLSHandshake, bev: OpaquePointer, http2: Bool) {
        connectionClosed(handshake)
        if http2 { startHTTP2(bev: bev, tls: true) } else { start(HTTPConnection(server: self, bev: bev, tls: true)) }
    }

    /// accept() failed with something other than "try again": out of descriptors (EMFILE,
    /// ENFILE) or memory. Retrying at once would spin a core and flood the log, so the
    /// listeners rest for a moment while open connections finish and free descriptors.
    private func acceptFailed() {
        let code = relay_errno()
        counters.acceptErrors += 1
        acceptErrorsSinceReport += 1
        for handle in listeners { evconnlistener_disable(handle) }
        if resumeTimer == nil {
            resumeTimer = LoopTimer(loop: loop) { [unowned self] in
                for handle in self.listeners { evconnlistener_enable(handle) }
            }
        }
        resumeTimer?.arm(limits.acceptBackoffSeconds)
        let now = Clock.monotonicSeconds()
        if now - lastAcceptReport >= 1 {
            let reason = code == EMFILE || code == ENFILE ? "too many open files" : "errno \(code)"
            onWarning("accept() failed (\(reason)) \(acceptErrorsSinceReport) time(s) in the last second; pausing accepts for \(limits.acceptBackoffSeconds) s")
            lastAcceptReport = now
            acceptErrorsSinceReport = 0
        }
    }

    private var warned: [String: Double] = [:]

    /// One warning a second at most per message.
    private func warn(_ message: String, _ total: inout Int) {
        let now = Clock.monotonicSeconds()
        if now - (warned[message] ?? -1) >= 1 {
            warned[message] = now
            onWarning("\(message) (\(total) in total)")
        }
    }

    // MARK: Bookkeeping called by connections and exchanges

    private func track(_ connection: ServerConnection) {
        guard connection.tableIndex < 0 else { return }
        connection.tableIndex = connections.count
        connections.append(connection)
    }

    func connectionClosed(_ connection: ServerConnection) {
        let index = connection.tableIndex
        guard index >= 0, index < connections.count, connections[index] === connection else { return }
        connection.tableIndex = -1
        let last = connections.removeLast()
        if index < connections.count {
            connections[index] = last
            last.tableIndex = index
        }
    }

    func exchangeStarted() { outstanding += 1 }
    func exchangeFinished() { outstanding -= 1 }

    /// Reserves body bytes; false when the cap across connections would be passed.
    func reserveBody(_ bytes: Int) -> Bool {
        guard bufferedBodyBytes + bytes <= limits.maxBufferedBodyBytes else {
            counters.refusedBodyBudget += 1
            return false
        }
        bufferedBodyBytes += bytes
        return true
    }

    func releaseBody(_ bytes: Int) { bufferedBodyBytes -= bytes }

    func count(_ keyPath: WritableKeyPath<HTTPServerCounters, Int>) { counters[keyPath: keyPath] += 1 }
}

