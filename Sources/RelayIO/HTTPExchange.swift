// HTTPExchange: one HTTP request and its response, plain or streamed (SSE).
// Holds the evhttp_request* until it is answered; after that every call is a no-op.
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims

public enum HTTPMethod: String, Sendable {
    case get = "GET", post = "POST", head = "HEAD", put = "PUT", delete = "DELETE"
    case options = "OPTIONS", patch = "PATCH", other = "OTHER"
}

public final class HTTPExchange {
    private var request: OpaquePointer?
    public let method: HTTPMethod
    /// The path as sent, not percent-decoded.
    public let path: String
    /// The raw query string (after "?"), or nil.
    public let query: String?
    /// Set when libevent refused the request before our handler saw it: 413 (body too large)
    /// or 400 (malformed request). The exchange must still be answered.
    public let failure: Int?
    private var onClose: (() -> Void)?
    private var streaming = false
    /// Chunked transfer encoding (HTTP/1.1) or a close-delimited body (HTTP/1.0).
    private var chunked = true
    /// While streaming: the connection's output buffer and socket, looked up once. Valid as
    /// long as `request` is set (the connection is freed only after the close callback, which
    /// clears `request`).
    private var streamOutput: OpaquePointer?
    private var streamSocket: Int32 = -1
    /// Unowned (the server outlives its exchanges): no weak-reference side table on a hot object.
    private unowned let server: HTTPServer?

    init(_ request: OpaquePointer, server: HTTPServer?) {
        self.request = request
        self.server = server
        switch evhttp_request_get_command(request) {
        case EVHTTP_REQ_GET: method = .get
        case EVHTTP_REQ_POST: method = .post
        case EVHTTP_REQ_HEAD: method = .head
        case EVHTTP_REQ_PUT: method = .put
        case EVHTTP_REQ_DELETE: method = .delete
        case EVHTTP_REQ_OPTIONS: method = .options
        case EVHTTP_REQ_PATCH: method = .patch
        default: method = .other
        }
        if evhttp_request_get_uri(request) == nil {
            // libevent clears the uri when it fails a request and asks us to answer it.
            let code = Int(evhttp_request_get_response_code(request))
            failure = code == 413 ? 413 : 400
            path = ""
            query = nil
        } else if let uri = evhttp_request_get_evhttp_uri(request) {
            failure = nil
            path = evhttp_uri_get_path(uri).map { String(cString: $0) } ?? "/"
            query = evhttp_uri_get_query(uri).map { String(cString: $0) }
        } else {
            failure = 400
            path = ""
            query = nil
        }
    }

    /// A request header (case-insensitive name), or nil.
    public func header(_ name: String) -> String? {
        guard let request, let headers = evhttp_request_get_input_headers(request),
              let value = evhttp_find_header(headers, name) else { return nil }
        return String(cString: value)
    }

    /// The request body (copied out of libevent's buffer).
    public func body() -> [UInt8] {
        guard let request, let input = evhttp_request_get_input_buffer(request) else { return [] }
        let length = evbuffer_get_length(input)
        guard length > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            count = Int(evbuffer_copyout(input, buffer.baseAddress, length))
        }
    }

    public var isAnswered: Bool { request == nil }
    public var isStreaming: Bool { streaming && request != nil }

    /// Sends a complete response; the request is released to libevent.
    public func respond(status: Int, headers: [(String, String)], body: [UInt8]) {
        guard let request, !streaming else { return }
        addHeaders(headers, to: request)
        let buffer = evbuffer_new()
        defer { evbuffer_free(buffer) }
        if !body.isEmpty {
            body.withUnsafeBytes { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
        }
        evhttp_send_reply(request, Int32(status), reasonPhrase(status), buffer)
        finished()
    }

    /// Starts a streamed response (chunked on HTTP/1.1): headers go out at once.
    /// `onClose` runs if the client goes away before `endStream()`.
    public func startStream(status: Int, headers: [(String, String)], onClose: @escaping () -> Void) {
        guard let request, !streaming else { return }
        streaming = true
        self.onClose = onClose
        addHeaders(headers, to: request)
        relay_prepare_stream(request)
        evhttp_send_reply_start(request, Int32(status), reasonPhrase(status))
        chunked = relay_request_is_chunked(request) != 0
        if let conn = evhttp_request_get_connection(request), let bev = evhttp_connection_get_bufferevent(conn) {
            streamOutput = bufferevent_get_output(bev)
            streamSocket = bufferevent_getfd(bev)
        }
        // The headers are on the wire and the request was read: free both header lists, about
        // a kilobyte per open stream (a stream lives for minutes, there may be 100,000).
        evhttp_clear_headers(evhttp_request_get_output_headers(request))
        evhttp_clear_headers(evhttp_request_get_input_headers(request))
        if let conn = evhttp_request_get_connection(request) {
            // Retained until the close callback or endStream(), whichever comes first.
            evhttp_connection_set_closecb(conn, { _, arg in
                guard let arg else { return }
                let exchange = Unmanaged<HTTPExchange>.fromOpaque(arg).takeRetainedValue()
                exchange.connectionClosed()
            }, Unmanaged.passRetained(self).toOpaque())
            // Read EOF while we only write: keep reading so that a client that hangs up is seen,
            // but buffer at most 16 KiB of whatever it sends (a stream takes no input).
            if let bev = evhttp_connection_get_bufferevent(conn) {
                bufferevent_setwatermark(bev, Int16(EV_READ), 0, 16 * 1024)
                bufferevent_enable(bev, Int16(EV_READ))
            }
        }
        flush()
    }

    /// Writes shared frames on an open stream, in order. Each frame carries its own chunk
    /// framing, so the same bytes go to every stream. When nothing is queued for this
    /// connection the frames go straight to the socket in one sendmsg (no epoll change);
    /// whatever the socket does not take is queued in libevent's output buffer by reference
    /// (no copy), in order, and libevent writes it when the socket drains.
    /// Returns the bytes left queued in libevent (0 when the socket took everything).
    @discardableResult
    public func write(_ frames: [SharedFrame]) -> Int {
        guard request != nil, streaming, !frames.isEmpty, let output = streamOutput else { return 0 }
        var sent = 0
        if evbuffer_get_length(output) == 0 {
            // A dead connection (-1) queues everything: libevent's write then fails and closes it.
            let fd = streamSocket
            if frames.count == 1, let frame = frames.first {
                let (start, length) = region(frame)
                sent = max(0, relay_send_now(fd, frame.bytes + start, UInt(length)))
            } else {
                var bases: [UnsafeRawPointer?] = []
                var lengths: [UInt] = []
                bases.reserveCapacity(min(frames.count, 64))
                lengths.reserveCapacity(min(frames.count, 64))
                for frame in frames.prefix(64) {
                    let (start, length) = region(frame)
                    bases.append(frame.bytes + start)
                    lengths.append(UInt(length))
                }
                sent = max(0, relay_send_buffers(fd, &bases, &lengths, Int32(bases.count)))
            }
        }
        var queued = 0
        for frame in frames {
            let (start, length) = region(frame)
            if sent >= length { sent -= length; continue }
            frame.addReference(to: output, offset: start + sent, length: length - sent)
            queued += length - sent
            sent = 0
        }
        return queued == 0 ? 0 : evbuffer_get_length(output)
    }

    private func region(_ frame: SharedFrame) -> (start: Int, length: Int) {
        chunked ? (0, frame.chunkedCount) : (frame.payloadOffset, frame.count)
    }

    /// Bytes accepted for this connection but not yet written to the socket.
    public var unsentBytes: Int {
        guard request != nil, let output = streamOutput else { return 0 }
        return evbuffer_get_length(output)
    }

    /// Ends a streamed response cleanly (the terminating chunk is sent).
    public func endStream() {
        guard let request, streaming else { return }
        detachCloseCallback()
        if let conn = evhttp_request_get_connection(request), let bev = evhttp_connection_get_bufferevent(conn) {
            bufferevent_setwatermark(bev, Int16(EV_READ), 0, 0)
        }
        evhttp_send_reply_end(request)
        finished()
    }

    /// Drops the connection without a clean end (slow subscriber, shutdown).
    public func abort() {
        guard let request, streaming else { return }
        detachCloseCallback()
        if let conn = evhttp_request_get_connection(request) {
            // Freeing the connection frees its pending request too.
            evhttp_connection_free(conn)
        }
        finished()
    }

    /// The request went back to libevent: drop the pointer and tell the server.
    private func finished() {
        guard request != nil else { return }
        request = nil
        server?.exchangeFinished()
    }

    private func detachCloseCallback() {
        guard let request, let conn = evhttp_request_get_connection(request), onClose != nil else { return }
        evhttp_connection_set_closecb(conn, nil, nil)
        onClose = nil
        Unmanaged.passUnretained(self).release()
    }

    private func connectionClosed() {
        let callback = onClose
        onClose = nil
        if let request {
            // libevent detached the request from the dead connection; finishing it frees it.
            evhttp_send_reply_end(request)
            finished()
        }
        callback?()
    }

    private func flush() {
        guard let request, let conn = evhttp_request_get_connection(request),
              let bev = evhttp_connection_get_bufferevent(conn) else { return }
        bufferevent_flush(bev, Int16(EV_WRITE), BEV_FLUSH)
    }

    private func addHeaders(_ headers: [(String, String)], to request: OpaquePointer) {
        guard let output = evhttp_request_get_output_headers(request) else { return }
        for (name, value) in headers { evhttp_add_header(output, name, value) }
    }
}

func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 201: return "Created"
    case 204: return "No Content"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 409: return "Conflict"
    case 413: return "Payload Too Large"
    case 422: return "Unprocessable Entity"
    case 500: return "Internal Server Error"
    case 503: return "Service Unavailable"
    default: return "Status"
    }
}
