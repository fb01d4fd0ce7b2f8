// HTTPClient: evhttp's client side on the loop, for the example worker and the load tester.
// One persistent connection per HTTPClient (requests on it run one after another); a stream
// (SSE) gets a connection of its own so that it never blocks other requests.
// Ownership: each request passes a retained RequestBox as evhttp's callback argument; it is
// released exactly once, in the completion callback (libevent frees the request right after)
// or in cancel(), which cancels the request so that the callback never runs.
// See Interop.md for the threading rules of this module.
internal import CLibevent
internal import CRelayShims

public struct HTTPClientResponse: Sendable {
    /// 0 when the request failed (connection refused, reset, timeout).
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

public final class HTTPClient {
    private let loop: EventLoop
    private var connection: OpaquePointer?
    public let host: String
    public let port: UInt16

    /// `localAddress` binds the client side (spreads load over 127.0.0.x source addresses).
    public init(loop: EventLoop, host: String, port: UInt16, localAddress: String? = nil, timeoutSeconds: Int32 = 30) {
        self.loop = loop
        self.host = host
        self.port = port
        connection = evhttp_connection_base_new(loop.base, nil, host, port)
        if let localAddress { evhttp_connection_set_local_address(connection, localAddress) }
        evhttp_connection_set_timeout(connection, timeoutSeconds)
    }

    deinit { if let connection { evhttp_connection_free(connection) } }

    /// Sends a request; `completion` runs once with the response (status 0 on failure).
    public func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
                        _ completion: @escaping (HTTPClientResponse) -> Void) {
        let box = RequestBox(onHeaders: nil, onChunk: nil, completion: completion)
        _ = send(method, path, headers: headers, body: body, box: box)
    }

    /// Opens a streamed GET (SSE). `onHeaders` gets the status, `onChunk` every piece of the
    /// body as it arrives, `onEnd` runs once when the response ends or fails.
    public func stream(_ path: String, headers: [(String, String)] = [], onHeaders: @escaping (Int) -> Void,
                       onChunk: @escaping ([UInt8]) -> Void, onEnd: @escaping (Int) -> Void) -> HTTPClientStream {
        let box = RequestBox(onHeaders: onHeaders, onChunk: onChunk) { onEnd($0.status) }
        let request = send(.get, path, headers: headers, body: [], box: box)
        return HTTPClientStream(request: request, box: box, client: self)
    }

    private func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)], body: [UInt8],
                      box: RequestBox) -> OpaquePointer? {
        let arg = Unmanaged.passRetained(box).toOpaque()
        guard let request = evhttp_request_new({ request, arg in
            guard let arg else { return }
            let box = Unmanaged<RequestBox>.fromOpaque(arg).takeRetainedValue()
            box.complete(request)
        }, arg) else {
            Unmanaged<RequestBox>.fromOpaque(arg).release()
            box.complete(nil)
            return nil
        }
        if box.onChunk != nil {
            evhttp_request_set_chunked_cb(request) { request, arg in
                guard let request, let arg else { return }
                let box = Unmanaged<RequestBox>.fromOpaque(arg).takeUnretainedValue()
                box.chunk(request)
            }
            evhttp_request_set_header_cb(request) { request, arg in
                guard let request, let arg else { return 0 }
                let box = Unmanaged<RequestBox>.fromOpaque(arg).takeUnretainedValue()
                box.headersArrived(Int(evhttp_request_get_response_code(request)))
                return 0
            }
        }
        if let output = evhttp_request_get_output_headers(request) {
            evhttp_add_header(output, "Host", host)
            for (name, value) in headers { evhttp_add_header(output, name, value) }
        }
        if !body.isEmpty, let buffer = evhttp_request_get_output_buffer(request) {
            body.withUnsafeBytes { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
        }
        let command: evhttp_cmd_type
        switch method {
        case .get: command = EVHTTP_REQ_GET
        case .post: command = EVHTTP_REQ_POST
        case .patch: command = EVHTTP_REQ_PATCH
        case .put: command = EVHTTP_REQ_PUT
        case .delete: command = EVHTTP_REQ_DELETE
        case .head: command = EVHTTP_REQ_HEAD
        case .options, .other: command = EVHTTP_REQ_OPTIONS
        }
        if evhttp_make_request(connection, request, command, path) != 0 {
            // libevent freed the request and will not call back.
            Unmanaged<RequestBox>.fromOpaque(arg).release()
            box.complete(nil)
            return nil
        }
        return request
    }
}

/// An open streamed response; `cancel()` closes it without calling `onEnd`.
public final class HTTPClientStream {
    private var request: OpaquePointer?
    private let box: RequestBox
    private let client: HTTPClient

    init(request: OpaquePointer?, box: RequestBox, client: HTTPClient) {
        self.request = request
        self.box = box
        self.client = client
        box.onFinish = { [weak self] in self?.request = nil }
    }

    public func cancel() {
        guard let request, !box.done else { return }
        self.request = nil
        box.done = true
        box.release()
        evhttp_cancel_request(request)
        Unmanaged.passUnretained(box).release()
    }
}

/// The callbacks of one request. They are dropped once the request is over (completed or
/// cancelled): callers' closures often capture the object that holds the request's stream,
/// and keeping them would keep that object, its client and its connection alive for good.
final class RequestBox {
    private(set) var onHeaders: ((Int) -> Void)?
    private(set) var onChunk: (([UInt8]) -> Void)?
    private var completion: ((HTTPClientResponse) -> Void)?
    var onFinish: (() -> Void)?
    var done = false
    private var sawHeaders = false

    init(onHeaders: ((Int) -> Void)?, onChunk: (([UInt8]) -> Void)?, completion: @escaping (HTTPClientResponse) -> Void) {
        self.onHeaders = onHeaders
        self.onChunk = onChunk
        self.completion = completion
    }

    func headersArrived(_ status: Int) {
        guard !sawHeaders else { return }
        sawHeaders = true
        onHeaders?(status)
    }

    func chunk(_ request: OpaquePointer) {
        guard let input = evhttp_request_get_input_buffer(request) else { return }
        let bytes = drain(input)
        if !bytes.isEmpty { onChunk?(bytes) }
    }

    /// Drops every callback (the request is over).
    func release() {
        onHeaders = nil
        onChunk = nil
        completion = nil
        onFinish = nil
    }

    func complete(_ request: OpaquePointer?) {
        guard !done else { return }
        done = true
        onFinish?()
        defer { release() }
        guard let request else { return completion?(HTTPClientResponse(status: 0, headers: [], body: [])) ?? () }
        let status = Int(evhttp_request_get_response_code(request))
        var headers: [(String, String)] = []
        if let input = evhttp_request_get_input_headers(request) {
            var header = input.pointee.tqh_first
            while let h = header {
                headers.append((String(cString: h.pointee.key), String(cString: h.pointee.value)))
                header = h.pointee.next.tqe_next
            }
        }
        let body = evhttp_request_get_input_buffer(request).map(drain) ?? []
        if onChunk != nil {
            if !body.isEmpty { onChunk?(body) }
            if !sawHeaders && status > 0 { onHeaders?(status) }
        }
        completion?(HTTPClientResponse(status: status, headers: headers, body: onChunk == nil ? body : []))
    }

    private func drain(_ buffer: OpaquePointer) -> [UInt8] {
        let length = evbuffer_get_length(buffer)
        guard length > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: length) { out, count in
            count = Int(evbuffer_remove(buffer, out.baseAddress, length))
        }
    }
}
