// HTTPExchange: one HTTP request and its response, plain or streamed (SSE).
// Holds its connection until it is answered; after that every call is a no-op.
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims
import RelayWire

public enum HTTPMethod: String, Sendable {
    case get = "GET", post = "POST", head = "HEAD", put = "PUT", delete = "DELETE"
    case options = "OPTIONS", patch = "PATCH", other = "OTHER"
}

public final class HTTPExchange {
    /// The connection, until the exchange is answered (or its client has gone).
    private var connection: HTTPConnection?
    private var answered = false
    private var head: HTTPRequestHead
    public let method: HTTPMethod
    /// The path as sent, not percent-decoded.
    public let path: String
    /// The raw query string (after "?"), or nil.
    public let query: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public let minorVersion: Int
    /// Whatever the server's user decided about this request when its head arrived (the relay
    /// keeps the route and the caller here, so that they are worked out once).
    public var attachment: Any?
    private var requestBody: [UInt8] = []
    private var onClose: (() -> Void)?
    private var streaming = false
    /// Chunked transfer encoding (HTTP/1.1) or a close-delimited body (HTTP/1.0).
    private var chunked = true
    /// While streaming: the connection's output buffer and socket, looked up once; cleared
    /// when the connection closes (it frees both).
    private var streamOutput: OpaquePointer?
    private var streamSocket: Int32 = -1
    /// Strong: an exchange keeps its server (and so the loop) alive; the server holds no
    /// exchange, so there is no cycle.
    private let server: HTTPServer

    init(head: HTTPRequestHead, connection: HTTPConnection) {
        self.head = head
        self.connection = connection
        self.server = connection.server
        method = HTTPMethod(rawValue: head.method) ?? .other
        path = head.path
        query = head.query
        minorVersion = head.minorVersion
    }

    /// A request header (case-insensitive name), or nil. Values never hold control characters:
    /// the server refused such requests before any handler saw them.
    public func header(_ name: String) -> String? {
        head.value(name.lowercased())
    }

    func receivedBody(_ bytes: [UInt8]) { requestBody = bytes }

    /// The request body.
    public func body() -> [UInt8] { requestBody }

    public var isAnswered: Bool { answered }
    public var isStreaming: Bool { streaming && !answered }

    /// Sends a complete response.
    public func respond(status: Int, headers: [(String, String)], body: [UInt8]) {
        server.loop.assertOnLoopThread()
        guard !answered, !streaming else { return }
        let connection = self.connection
        finished()
        connection?.sendResponse(status: status, headers: headers, body: body, headOnly: method == .head)
    }

    /// Starts a streamed response (chunked on HTTP/1.1, close-delimited on HTTP/1.0): the
    /// head is queued at once. `onClose` runs if the client goes away before `endStream()`.
    public func startStream(status: Int, headers: [(String, String)], onClose: @escaping () -> Void) {
        guard !answered, !streaming else { return }
        guard let connection, let stream = connection.startStream(status: status, headers: headers) else {
            // The client is gone: the stream ends before it began.
            finished()
            return onClose()
        }
        streaming = true
        self.onClose = onClose
        streamOutput = stream.output
        streamSocket = stream.socket
        chunked = stream.chunked
        // A stream lives for minutes and there may be 100,000: drop the request's header fields.
        head.fields = []
        requestBody = []
    }
    /// Writes shared frames on an open stream, in order. Each frame carries its own chunk
    /// framing, so the same bytes go to every stream. When nothing is queued for this
    /// connection the frames go straight to the socket in one sendmsg (no epoll change);
    /// whatever the socket does not take is queued in libevent's output buffer by reference
    /// (no copy), in order, and libevent writes it when the socket drains.
    /// Returns the bytes left queued in libevent (0 when the socket took everything).
    @discardableResult
    public func write(_ frames: [SharedFrame]) -> Int {
        guard streaming, !answered, !frames.isEmpty, let output = streamOutput else { return 0 }
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
            // A refused reference would lose bytes mid-stream: report the connection as
            // hopelessly behind, so that its subscriber is dropped (it resumes with its id).
            guard frame.addReference(to: output, offset: start + sent, length: length - sent) else { return Int.max }
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
        guard !answered, let output = streamOutput else { return 0 }
        return evbuffer_get_length(output)
    }

    /// Ends a streamed response cleanly (the terminating chunk is sent).
    public func endStream() {
        guard streaming, !answered else { return }
        let connection = self.connection
        let chunked = self.chunked
        onClose = nil
        finished()
        connection?.endStream(chunked: chunked)
    }

    /// Drops the connection without a clean end (slow subscriber, shutdown).
    public func abort() {
        guard streaming, !answered else { return }
        let connection = self.connection
        onClose = nil
        finished()
        connection?.close()
    }

    /// Answered: the connection is no longer this exchange's to use.
    private func finished() {
        guard !answered else { return }
        answered = true
        connection = nil
        streamOutput = nil
        streamSocket = -1
        server.exchangeFinished()
    }

    /// The connection closed under the exchange: a stream ends (onClose runs); a request still
    /// being handled stays unanswered until its handler responds, which then writes nothing;
    /// a request whose body never arrived had no handler and is finished here.
    func connectionClosed(handlerWillAnswer: Bool) {
        connection = nil
        streamOutput = nil
        streamSocket = -1
        if !handlerWillAnswer { return finished() }
        guard streaming, !answered else { return }
        let callback = onClose
        onClose = nil
        finished()
        callback?()
    }
}
