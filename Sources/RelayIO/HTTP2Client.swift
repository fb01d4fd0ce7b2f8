// HTTP2Client: an HTTP/2 cleartext client with prior knowledge (h2c: the connection preface
// at once, no Upgrade) on the loop, for the load tester: many concurrent streams on one TCP
// connection. nghttp2 does the framing, HPACK and flow control (its "mem" API: bytes in,
// bytes out, no I/O of its own); a bufferevent owns the socket.
//
// - Requests made before the server's first SETTINGS wait in a list: until then its
//   SETTINGS_MAX_CONCURRENT_STREAMS is unknown and nghttp2 would send every stream at once,
//   and a server would refuse the excess. After it, nghttp2 queues streams over the limit.
// - Windows: 16 MiB per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection, and
//   nghttp2 sends WINDOW_UPDATEs by itself as data is received: SSE streams never stall.
// - Output: everything one loop iteration produced (new requests, cancels, window updates,
//   acks) is serialised once, at the end of that iteration (a LoopTask), and nghttp2 is only
//   asked for more frames while the bufferevent holds less than `maxBufferedOutput` bytes;
//   the bufferevent's write callback asks again when it has drained.
// See Interop.md ("HTTP2Client") for the ownership rules.
internal import CLibevent
internal import CNghttp2
internal import CRelayShims

public final class HTTP2Client {
    public static let defaultWindowBytes: Int32 = 16 << 20
    public static let defaultMaxBufferedOutput = 1 << 20

    private let loop: EventLoop
    public let host: String
    public let port: UInt16
    private let sourceAddress: String?
    private let connectTimeoutSeconds: Double
    private let windowBytes: Int32
    private let maxBufferedOutput: Int
    private var bev: OpaquePointer?
    /// Freed only in deinit: never while nghttp2 is running one of its callbacks.
    private var session: OpaquePointer?
    private var flushTask: LoopTask?
    private var connectTimer: LoopTimer?
    private var started = false
    private var tcpConnected = false
    private var closed = false
    /// Inside nghttp2_session_mem_recv / mem_send: nghttp2 reads from the bufferevent's input
    /// (and its callbacks reach the owner, who may close), so a close frees the bufferevent
    /// only after nghttp2 has returned.
    private var insideSession = false
    private var insideConnect = false
    private var connectFailure: String?
    private var goaway: String?
    /// Requests waiting for the server's SETTINGS.
    private var waiting: [HTTP2ClientStream] = []
    private var streams: [Int32: HTTP2ClientStream] = [:]

    /// The server's SETTINGS arrived: the connection is up.
    public private(set) var isConnected = false
    /// The connect finished (the server's SETTINGS arrived): nil, or why it failed.
    public var onConnect: ((_ error: String?) -> Void)?
    /// The connection ended after it was up: nil when the server closed it cleanly, else why.
    /// Every open stream's `onEnd` has run with the reason first. Not called for `close()`.
    public var onClose: ((_ error: String?) -> Void)?

    /// Streams not yet over (sent or waiting).
    public var openStreams: Int { streams.count + waiting.count }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (nil before it arrived or if it set none).
    public var serverMaxConcurrentStreams: Int? {
        guard isConnected, let session else { return nil }
        let value = nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
        return value == UInt32.max ? nil : Int(value)
    }

    /// `sourceAddress` binds the client side (a numeric local address, e.g. 127.0.0.2).
    public init(loop: EventLoop, host: String, port: UInt16, sourceAddress: String? = nil,
                connectTimeoutSeconds: Double = 10, windowBytes: Int32 = HTTP2Client.defaultWindowBytes,
                maxBufferedOutput: Int = HTTP2Client.defaultMaxBufferedOutput) {
        self.loop = loop
        self.host = host
        self.port = port
        self.sourceAddress = sourceAddress
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.windowBytes = windowBytes
        self.maxBufferedOutput = maxBufferedOutput
        session = Self.makeSession(self)
        flushTask = LoopTask(loop: loop) { [weak self] in self?.flushNow() }
    }

    /// The bufferevent goes first: no callback can reach this object after it.
    deinit {
        if let bev { bufferevent_free(bev) }
        if let session { nghttp2_session_del(session) }
    }

    // MARK: API

    /// Starts connecting; `onConnect` reports the outcome, always later, from the loop.
    /// Returns false (and reports nothing) if started before or no socket can be made.
    @discardableResult
    public func connect() -> Bool {
        loop.assertOnLoopThread()
        guard !started, let session,
              let bev = bufferevent_socket_new(loop.base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else { return false }
        started = true
        self.bev = bev
        // The callbacks get this object unretained: its owner keeps it alive, and deinit (or
        // close) frees the bufferevent first. Held for the duration of each callback, as the
        // owner may let it go from inside a stream's callbacks.
        bufferevent_setcb(bev, { _, arg in
            let client = Unmanaged<HTTP2Client>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(client) { client.readable() }
        }, { _, arg in
            let client = Unmanaged<HTTP2Client>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(client) { client.drained() }
        }, { _, events, arg in
            let client = Unmanaged<HTTP2Client>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(client) { client.event(events) }
        }, Unmanaged.passUnretained(self).toOpaque())
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        bufferevent_set_max_single_read(bev, 256 << 10)
        bufferevent_set_max_single_write(bev, 256 << 10)

        // The preface (nghttp2 adds the client magic) goes out once the socket is connected.
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(windowBytes)),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, windowBytes)

        connectTimer = loop.after(connectTimeoutSeconds) { [weak self] in self?.fail("connect timed out") }
        insideConnect = true
        let result = relay_bev_connect_tcp(bev, host, port, sourceAddress)
        insideConnect = false
        if result != 0 && connectFailure == nil { connectFailure = "cannot connect to \(host):\(port)" }
        if let connectFailure {
            loop.after(0) { [weak self] in self?.fail(connectFailure) }
        }
        return true
    }

    /// Opens a stream. `onResponse` gets the final status and headers (names in lower case),
    /// `onData` every piece of the body as it arrives, `onEnd` runs once when the stream ends
    /// (nil) or fails (why; also when the connection fails). A request made before the
    /// connection is up waits for it. Nothing is reported from inside this call.
    /// `headers` are sent in lower case; Host becomes :authority, and HTTP/1.1 connection
    /// headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade) are left out.
    /// `streamingBody`: the body is sent as `stream.send(...)` adds to it, until `stream.finish()`
    /// (full duplex: the response may arrive meanwhile).
    public func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                        streamingBody: Bool = false,
                        onResponse: @escaping (_ status: Int, _ headers: [(String, String)]) -> Void,
                        onData: @escaping ([UInt8]) -> Void,
                        onEnd: @escaping (_ error: String?) -> Void) -> HTTP2ClientStream {
        loop.assertOnLoopThread()
        let stream = HTTP2ClientStream(client: self, method: method.rawValue, path: path, headers: headers, body: body,
                                       streamsBody: streamingBody, onResponse: onResponse, onData: onData, onEnd: onEnd)
        if closed {
            let reason = goaway ?? "connection closed"
            loop.after(0) { stream.end(reason) }
        } else if isConnected {
            submit(stream)
        } else {
            waiting.append(stream)
        }
        return stream
    }

    /// Closes at once. Nothing is reported for it (no onConnect, onClose or stream onEnd).
    /// Safe inside this client's own callbacks.
    public func close() {
        loop.assertOnLoopThread()
        let open = Array(streams.values) + waiting
        shutDown()
        for stream in open { stream.drop() }
    }

    // MARK: Streams

    private func submit(_ stream: HTTP2ClientStream) {
        guard let session else { return }
        var fields: [(String, String)] = [(":method", stream.method), (":scheme", "http"),
                                          (":authority", "\(host):\(port)"), (":path", stream.path)]
        for (name, value) in stream.headers {
            let name = name.lowercased()
            if ["host", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"].contains(name) { continue }
            fields.append((name, value))
        }
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: { _, id, buffer, length, flags, _, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            return client.readBody(id, buffer!, length, flags!)
        })
        let id = HTTP2HeaderBlock.with(fields) { nva, count in
            stream.body == nil ? nghttp2_submit_request(session, nil, nva, count, nil, nil)
                               : nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        guard id > 0 else {
            let reason = "cannot open a stream: \(String(cString: nghttp2_strerror(id)))"
            loop.after(0) { stream.end(reason) }
            return
        }
        stream.id = id
        streams[id] = stream
        flushTask?.schedule()
    }

    /// More of a streamed body (or its end) is ready.
    func bodyReady(_ stream: HTTP2ClientStream) {
        guard stream.id != 0, stream.bodyDeferred, !closed, let session else { return }
        stream.bodyDeferred = false
        nghttp2_session_resume_data(session, stream.id)
        flushTask?.schedule()
    }

    /// Called by `HTTP2ClientStream.cancel()` (the stream has dropped its callbacks).
    func cancel(_ stream: HTTP2ClientStream) {
        guard stream.id != 0 else {
            waiting.removeAll { $0 === stream }
            return
        }
        streams[stream.id] = nil
        guard !closed, let session else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, UInt32(NGHTTP2_CANCEL.rawValue))
        flushTask?.schedule()
    }

    /// nghttp2 asks for the next piece of a request body (inside mem_send).
    private func readBody(_ id: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
                          _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[id], let body = stream.body else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let count = min(length, body.count - stream.bodyOffset)
        if count == 0 && stream.streamsBody && !stream.bodyFinished {
            stream.bodyDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        body.withUnsafeBufferPointer { source in
            if count > 0 { buffer.update(from: source.baseAddress! + stream.bodyOffset, count: count) }
        }
        stream.bodyOffset += count
        if stream.streamsBody && stream.bodyOffset == body.count {
            // Sent: what `send` adds next starts a fresh buffer.
            stream.body = []
            stream.bodyOffset = 0
            if stream.bodyFinished { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        } else if stream.bodyOffset == body.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        }
        return count
    }

    // MARK: nghttp2 callbacks (inside mem_recv / mem_send)

    private func beginHeaders(_ frame: nghttp2_frame) {
        guard let stream = streams[frame.hd.stream_id] else { return }
        stream.status = 0
        stream.responseHeaders = []
    }

    private func header(_ frame: nghttp2_frame, name: [UInt8], value: [UInt8]) {
        guard let stream = streams[frame.hd.stream_id], !stream.responded else { return }
        if name == Array(":status".utf8) {
            stream.status = Int(String(decoding: value, as: UTF8.self)) ?? 0
        } else {
            stream.responseHeaders.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
    }

    private func frameReceived(_ frame: nghttp2_frame) {
        switch UInt32(frame.hd.type) {
        case NGHTTP2_SETTINGS.rawValue:
            guard frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0, !isConnected else { return }
            isConnected = true
            connectTimer?.cancel()
            connectTimer = nil
            let pending = waiting
            waiting = []
            for stream in pending { submit(stream) }
            onConnect?(nil)
        case NGHTTP2_HEADERS.rawValue:
            guard let stream = streams[frame.hd.stream_id], !stream.responded, stream.status >= 200 else { return }
            stream.deliverResponse()
        case NGHTTP2_GOAWAY.rawValue:
            let code = frame.goaway.error_code
            goaway = code == NGHTTP2_NO_ERROR.rawValue ? nil : "GOAWAY: \(String(cString: nghttp2_http2_strerror(code)))"
        default:
            return
        }
    }

    private func dataReceived(_ id: Int32, _ data: UnsafePointer<UInt8>, _ length: Int) {
        streams[id]?.deliverData(Array(UnsafeBufferPointer(start: data, count: length)))
    }

    private func streamClosed(_ id: Int32, _ code: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        if code == NGHTTP2_NO_ERROR.rawValue {
            stream.end(stream.responded ? nil : "stream ended without a response")
        } else {
            stream.end("stream reset: \(String(cString: nghttp2_http2_strerror(code)))")
        }
    }

    private static func makeSession(_ client: HTTP2Client) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        // Each callback lands on the client (unretained: it outlives its session) and stops
        // nghttp2 (a callback failure) once the owner has closed it from an earlier callback.
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            guard !client.closed else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            client.beginHeaders(frame!.pointee)
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            guard !client.closed else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            client.header(frame!.pointee, name: Array(UnsafeBufferPointer(start: name, count: nameLength)),
                          value: Array(UnsafeBufferPointer(start: value, count: valueLength)))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            guard !client.closed else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            client.frameReceived(frame!.pointee)
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            guard !client.closed else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            client.dataReceived(id, data!, length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            let client = Unmanaged<HTTP2Client>.fromOpaque(user!).takeUnretainedValue()
            guard !client.closed else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            client.streamClosed(id, code)
            return 0
        }
        var session: OpaquePointer?
        guard nghttp2_session_client_new(&session, callbacks, Unmanaged.passUnretained(client).toOpaque()) == 0 else { return nil }
        return session
    }

    // MARK: I/O

    private func readable() {
        guard let bev, let session, !closed else { return }
        let input = bufferevent_get_input(bev)
        var data: UnsafePointer<CChar>?
        while !closed {
            let length = relay_evbuffer_first_chunk(input, &data)
            guard length > 0, let data else { break }
            insideSession = true
            let consumed = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                nghttp2_session_mem_recv(session, $0, length)
            }
            insideSession = false
            if closed { return freeBufferevent() }
            if consumed < 0 { return fail("HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(consumed))))") }
            evbuffer_drain(input, length)
        }
        flushTask?.schedule()
    }

    /// The bufferevent wrote all it held: nghttp2 may have more (it stopped at the cap).
    private func drained() {
        if let session, nghttp2_session_want_write(session) != 0 { flushTask?.schedule() }
    }

    /// Serialises what nghttp2 has to send into the bufferevent, up to the output cap, then
    /// closes the connection if the session is over (GOAWAY both ways, nothing left).
    private func flushNow() {
        guard let bev, let session, tcpConnected, !closed else { return }
        let output = bufferevent_get_output(bev)
        while evbuffer_get_length(output) < maxBufferedOutput {
            var data: UnsafePointer<UInt8>?
            insideSession = true
            let length = nghttp2_session_mem_send(session, &data)
            insideSession = false
            if closed { return freeBufferevent() }
            if length < 0 { return fail("HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(length))))") }
            guard length > 0, let data else { break }
            // bufferevent_write copies: nghttp2's buffer is only valid until its next call.
            guard bufferevent_write(bev, data, length) == 0 else { return fail("cannot queue output") }
        }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            fail(goaway)
        }
    }

    private func event(_ events: Int16) {
        let what = Int32(events)
        let connected = what & Int32(BEV_EVENT_CONNECTED) != 0
        // errno is only meaningful now, inside the callback.
        let reason: String? = connected ? nil : what & Int32(BEV_EVENT_EOF) != 0
            ? goaway
            : (bev.map { String(cString: relay_bev_error_text($0)) } ?? "connection error")
        if insideConnect {
            // Reported synchronously, inside connect(): connect() reports it from the loop.
            if !connected { connectFailure = reason ?? "connection closed" }
            else { loop.after(0) { [weak self] in self?.socketConnected() } }
            return
        }
        if connected { socketConnected() } else { fail(reason) }
    }

    private func socketConnected() {
        guard let bev, !closed else { return }
        tcpConnected = true
        relay_tcp_tune(bufferevent_getfd(bev))
        flushTask?.schedule()
    }

    // MARK: Closing

    /// Closes and reports why: every open stream's onEnd, then onConnect (if the connection
    /// never came up) or onClose. At most once.
    private func fail(_ reason: String?) {
        guard !closed else { return }
        let wasConnected = isConnected
        let open = streams.sorted { $0.key < $1.key }.map(\.value) + waiting
        shutDown()
        let streamReason = reason ?? (wasConnected ? "connection closed" : Self.noSettings)
        for stream in open { stream.end(streamReason) }
        if wasConnected {
            onClose?(reason)
        } else {
            onConnect?(reason ?? Self.noSettings)
        }
    }

    private static let noSettings = "connection closed before the server's SETTINGS (not an h2c server?)"

    private func shutDown() {
        guard !closed else { return }
        closed = true
        isConnected = false
        connectTimer?.cancel()
        connectTimer = nil
        streams = [:]
        waiting = []
        if !insideSession { freeBufferevent() }
    }

    private func freeBufferevent() {
        guard let bev else { return }
        // Frees the socket too (BEV_OPT_CLOSE_ON_FREE); allowed inside the bufferevent's own
        // callbacks, and none runs after it.
        self.bev = nil
        bufferevent_free(bev)
    }
}
