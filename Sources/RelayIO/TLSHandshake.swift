// TLS for HTTPServer: the context (certificate, key, ALPN) and the handshake every TLS
// connection goes through before ALPN decides whether HTTP2Connection or HTTPConnection
// serves it. The handshake has the head deadline: a client that opens a connection and never
// finishes its handshake holds it no longer than one that never finishes a request head.
// Ownership: TLSContext owns the SSL_CTX (freed in deinit; each SSL object holds its own
// reference to it). TLSHandshake owns its bufferevent (and through it the SSL object and the
// socket) until it hands it to the connection that serves it; its callbacks get it
// unretained, and it is in the server's table until then. See Interop.md.
internal import CLibevent
internal import CRelayShims

final class TLSContext {
    let context: UnsafeMutableRawPointer

    init(certFile: String, keyFile: String) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let context = relay_tls_context_new(certFile, keyFile, &error, error.count) else {
            throw HTTPServerError.tls(String(cString: error))
        }
        self.context = context
    }

    deinit { relay_tls_context_free(context) }
}

final class TLSHandshake: ServerConnection {
    var tableIndex = -1
    private let server: HTTPServer
    private var bev: OpaquePointer?
    private var timer: LoopTimer?

    init?(server: HTTPServer, context: TLSContext, fd: Int32) {
        guard let bev = relay_tls_bufferevent(server.loop.base, fd, context.context) else { return nil }
        self.server = server
        self.bev = bev
    }

    func start() {
        guard let bev else { return }
        timer = LoopTimer(loop: server.loop) { [unowned self] in
            self.server.count(\.tlsHandshakeFailures)
            self.close()
        }
        if let common = server.headTimeout { timer?.arm(common: common) } else { timer?.arm(server.limits.headTimeoutSeconds) }
        // Bytes that arrive with the handshake stay in the input for the connection that serves them.
        bufferevent_setcb(bev, nil, nil, { _, events, arg in
            Unmanaged<TLSHandshake>.fromOpaque(arg!).takeUnretainedValue().event(events)
        }, Unmanaged.passUnretained(self).toOpaque())
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
    }

    private func event(_ events: Int16) {
        withExtendedLifetime(self) {
            guard let bev else { return }
            guard events & Int16(BEV_EVENT_CONNECTED) != 0 else {
                server.count(\.tlsHandshakeFailures)
                return close()
            }
            timer?.cancel()
            self.bev = nil
            server.handshakeFinished(self, bev: bev, http2: relay_tls_negotiated_h2(bev) == 1)
        }
    }

    func close() {
        timer?.cancel()
        if let bev { bufferevent_free(bev) }
        bev = nil
        server.connectionClosed(self)
    }

    func drain() { close() }
}
