// HTTPServer: libevent's evhttp on the loop. Each request is handed to `onRequest` as an
// HTTPExchange; requests libevent rejects itself (body over the size cap, bad headers) arrive
// as an exchange whose `failure` is set, so the relay can answer them with its JSON errors.
// (libevent 2.1.12 answers most of these itself, with an HTML page, before any callback: the
// relay keeps libevent's body cap at 4x its largest route limit so that ordinary oversized
// bodies reach the handler and get the JSON 413.)
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims

public enum HTTPServerError: Error, CustomStringConvertible {
    case bind(String)
    public var description: String {
        switch self { case .bind(let m): return m }
    }
}

public final class HTTPServer {
    private let http: OpaquePointer
    private var listeners: [OpaquePointer] = []
    /// Requests not yet answered, open streams included.
    public private(set) var outstanding = 0

    func exchangeFinished() { outstanding -= 1 }

    /// Called once per request, on the loop thread.
    public var onRequest: (HTTPExchange) -> Void = { $0.respond(status: 404, headers: [], body: []) }

    /// `maxBodySize`: the largest body any route accepts; larger ones are refused while reading.
    /// `timeoutSeconds`: how long a connection may sit idle in a read or a blocked write.
    public init(loop: EventLoop, maxBodySize: Int, maxHeadersSize: Int = 16 * 1024, timeoutSeconds: Int32) {
        guard let http = evhttp_new(loop.base) else { fatalError("evhttp_new failed") }
        self.http = http
        evhttp_set_max_body_size(http, Int(maxBodySize))
        evhttp_set_max_headers_size(http, Int(maxHeadersSize))
        evhttp_set_timeout(http, timeoutSeconds)
        let methods = EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_POST.rawValue | EVHTTP_REQ_HEAD.rawValue
            | EVHTTP_REQ_PUT.rawValue | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_OPTIONS.rawValue
            | EVHTTP_REQ_PATCH.rawValue
        evhttp_set_allowed_methods(http, UInt16(methods))
        evhttp_set_gencb(http, { request, arg in
            guard let request, let arg else { return }
            let server = Unmanaged<HTTPServer>.fromOpaque(arg).takeUnretainedValue()
            server.outstanding += 1
            server.onRequest(HTTPExchange(request, server: server))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { evhttp_free(http) }

    /// Binds and listens; returns the port (useful with port 0). `reusePort` lets several
    /// processes share one port (SO_REUSEPORT); the kernel spreads connections among them.
    @discardableResult
    public func listen(host: String, port: UInt16, reusePort: Bool = false, backlog: Int32 = 4096) throws -> Int {
        let fd = relay_listen_socket(host, port, reusePort ? 1 : 0, backlog)
        guard fd >= 0 else { throw HTTPServerError.bind("cannot listen on \(host):\(port)") }
        guard let handle = evhttp_accept_socket_with_handle(http, fd) else {
            throw HTTPServerError.bind("evhttp cannot accept on \(host):\(port)")
        }
        listeners.append(handle)
        return Int(relay_socket_port(fd))
    }

    /// Stops accepting new connections; open connections are left alone.
    public func stopListening() {
        for handle in listeners { evhttp_del_accept_socket(http, handle) }
        listeners.removeAll()
    }
}
