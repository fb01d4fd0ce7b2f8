// HTTP2Connection: an HTTP/2 connection of HTTPServer, an nghttp2 server session over a
// bufferevent (plain TCP after the h2c preface, or TLS after ALPN chose "h2").
//
// nghttp2 parses frames, keeps HPACK and flow control, and validates HTTP/2's own rules; this
// type feeds it the input, runs its callbacks into HTTP2Stream, and writes what it produces.
// Output is gathered for a whole loop iteration (a LoopTask) and written in one go: many SSE
// streams on one connection cost one write per flush, not one per stream. It stops asking
// nghttp2 for frames while `outputHighWater` bytes wait for the socket, so a client that does
// not read holds back its streams (whose subscribers are then dropped as slow) instead of
// filling memory.
//
// The hostile-input stance of HTTP/1.1, in HTTP/2's terms (each has a counter):
// - concurrent streams per connection: SETTINGS_MAX_CONCURRENT_STREAMS, enforced by nghttp2;
// - header list size: SETTINGS_MAX_HEADER_LIST_SIZE advertised, and enforced per stream (431);
// - HPACK: the decoder's table is what we advertise (4 KiB), the encoder's is capped at 4 KiB;
// - CONTINUATION floods: at most 8 CONTINUATION frames per header block (nghttp2);
// - rapid reset (CVE-2023-44487): a token bucket on RST_STREAM frames received (nghttp2;
//   Debian's 1.52 then sends GOAWAY INTERNAL_ERROR and closes);
// - resets the client provokes ("MadeYouReset"), SETTINGS, PING, PRIORITY and empty (or
//   padding-only) DATA floods: a token bucket here, then GOAWAY with ENHANCE_YOUR_CALM; a flood
//   that does not read its ACKs passes nghttp2's cap on queued ACKs (max_outbound_ack) first
//   and the connection closes without a GOAWAY;
// - HPACK bombs: a header block decoded past four times the head limit is not decoded on;
// - flow control: a stream whose window stays shut holds its queue; after the write timeout
//   without progress it is reset, and a subscriber's queue is capped by its slow-client limit;
// - deadlines: a header block (head timeout), a body (body timeout), a connection without
//   streams (keep-alive timeout), and output the client does not read (write timeout).
// Ownership: as HTTPConnection (the server's table holds it; the bufferevent's callbacks get it
// unretained; `close()` frees the bufferevent, then the session, then leaves the table).
// nghttp2's callbacks get it as the session's user data, unretained; they run only inside
// `nghttp2_session_mem_recv` and `nghttp2_session_send`, which run only while it is open.
internal import CLibevent
internal import CNghttp2
internal import CRelayShims

final class HTTP2Connection: ServerConnection {
    static let outputHighWater = 64 * 1024
    /// SETTINGS, PING, PRIORITY and empty DATA frames: a burst, then a rate per second.
    static let controlFrameBurst = 200.0
    static let controlFramesPerSecond = 50.0

    var tableIndex = -1
    let server: HTTPServer
    private let bev: OpaquePointer
    private let tls: Bool
    private var session: OpaquePointer?
    private var streams: [Int32: HTTP2Stream] = [:]
    private var idleTimer: LoopTimer?
    private var stallTimer: LoopTimer?
    private var sendTask: LoopTask?
    private(set) var closed = false
    private var goingAway = false
    private var controlTokens = HTTP2Connection.controlFrameBurst
    private var controlRefilled = Clock.monotonicSeconds()

    init(server: HTTPServer, bev: OpaquePointer, tls: Bool) {
        self.server = server
        self.bev = bev
        self.tls = tls
    }

    var outputLength: Int { closed ? 0 : evbuffer_get_length(bufferevent_get_output(bev)) }

    func start() {
        let user = Unmanaged.passUnretained(self).toOpaque()
        guard let session = HTTP2Session.makeServer(user: user, limits: server.limits) else {
            bufferevent_free(bev)
            closed = true
            server.connectionClosed(self)
            return
        }
        self.session = session
        server.count(\.http2Connections)
        idleTimer = LoopTimer(loop: server.loop) { [unowned self] in self.idleTimeoutPassed() }
        sendTask = LoopTask(loop: server.loop) { [unowned self] in self.flush() }
        bufferevent_setcb(bev, { _, arg in
            Unmanaged<HTTP2Connection>.fromOpaque(arg!).takeUnretainedValue().readable()
        }, { _, arg in
            Unmanaged<HTTP2Connection>.fromOpaque(arg!).takeUnretainedValue().flush()
        }, { _, events, arg in
            Unmanaged<HTTP2Connection>.fromOpaque(arg!).takeUnretainedValue().event(events)
        }, user)
        bufferevent_setwatermark(bev, Int16(EV_READ), 0, HTTPConnection.readHighWater)
        bufferevent_setwatermark(bev, Int16(EV_WRITE), Self.outputHighWater / 2, 0)
        var write = timeval(server.limits.writeTimeoutSeconds)
        bufferevent_set_timeouts(bev, nil, &write)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        armIdle()
        // The preface (read by HTTPConnection) or a request sent with the TLS handshake waits.
        if evbuffer_get_length(bufferevent_get_input(bev)) > 0 { readable() }
        scheduleSend()
    }

    // MARK: Input

    private func readable() {
        withExtendedLifetime(self) {
            let input = bufferevent_get_input(bev)
            var data: UnsafePointer<CChar>?
            while !closed, let session {
                let length = relay_evbuffer_first_chunk(input, &data)
                guard length > 0, let data else { break }
                let consumed = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    nghttp2_session_mem_recv(session, $0, length)
                }
                guard !closed else { return }
                guard consumed >= 0 else {
                    if consumed == Int(NGHTTP2_ERR_FLOODED.rawValue) { server.count(\.http2Floods) }
                    else { server.count(\.http2ProtocolErrors) }
                    // Send what nghttp2 queued (a GOAWAY for protocol errors; nothing for a flood
                    // of unread ACKs), then end.
                    goingAway = true
                    flush()
                    return close()
                }
                evbuffer_drain(input, consumed)
            }
            scheduleSend()
        }
    }

    // MARK: Output

    func scheduleSend() {
        guard !closed else { return }
        sendTask?.schedule()
    }

    /// Asks nghttp2 for every frame it has ready (up to the high-water mark), writes them, and
    /// ends the connection once nghttp2 has nothing left to read or write.
    private func flush() {
        guard !closed, let session else { return }
        withExtendedLifetime(self) {
            if nghttp2_session_send(session) != 0 {
                server.count(\.http2ProtocolErrors)
                return close()
            }
            guard !closed else { return }
            let output = bufferevent_get_output(bev)
            if !tls && evbuffer_get_length(output) > 0 {
                // Now rather than at the next poll (see RespConnection.flushNow); the front of a
                // bufferevent's output is frozen outside its own write.
                evbuffer_unfreeze(output, 1)
                _ = evbuffer_write(output, bufferevent_getfd(bev))
                evbuffer_freeze(output, 1)
            }
            let finished = nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
            if evbuffer_get_length(output) == 0 && (finished || (goingAway && streams.isEmpty)) { close() }
        }
    }

    /// nghttp2's send callback: frames other than DATA payloads are copied into the output.
    fileprivate func send(_ data: UnsafePointer<UInt8>, _ length: Int) -> Int {
        let output = bufferevent_get_output(bev)
        guard evbuffer_get_length(output) < Self.outputHighWater else { return Int(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
        evbuffer_add(output, data, length)
        return length
    }

    /// nghttp2's send-data callback: the frame header, then the payload from the stream's queue.
    fileprivate func sendData(stream id: Int32, header: UnsafePointer<UInt8>, length: Int) -> Int32 {
        guard let output = bufferevent_get_output(bev) else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        guard evbuffer_get_length(output) < Self.outputHighWater else { return NGHTTP2_ERR_WOULDBLOCK.rawValue }
        guard let stream = streams[id] else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        evbuffer_add(output, header, 9)
        return stream.emit(length, into: output) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
    }

    fileprivate func readData(stream id: Int32, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[id] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        var eof = false
        guard let n = stream.readData(length: length, eof: &eof) else { return Int(NGHTTP2_ERR_DEFERRED.rawValue) }
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        if eof { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }

    func submitResponse(stream id: Int32, status: Int, fields: [(String, String)], hasBody: Bool) {
        guard !closed, let session else { return }
        let all = [(":status", String(status))] + fields
        let rv = HTTP2HeaderBlock.with(all) { nva, count in
            if hasBody {
                var provider = nghttp2_data_provider()
                provider.read_callback = HTTP2Session.readCallback
                return nghttp2_submit_response(session, id, nva, count, &provider)
            }
            return nghttp2_submit_response(session, id, nva, count, nil)
        }
        if rv != 0 { resetStream(id, code: NGHTTP2_INTERNAL_ERROR.rawValue) }
        scheduleSend()
    }

    func submitContinue(stream id: Int32) {
        guard !closed, let session else { return }
        _ = HTTP2HeaderBlock.with([(":status", "100")]) { nva, count in
            nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, nil, nva, count, nil)
        }
        scheduleSend()
    }

    func resumeData(stream id: Int32) {
        guard !closed, let session else { return }
        _ = nghttp2_session_resume_data(session, id)
        scheduleSend()
    }

    func resetStream(_ id: Int32, code: UInt32) {
        guard !closed, let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code)
        scheduleSend()
    }

    // MARK: nghttp2's callbacks

    fileprivate func beginHeaders(stream id: Int32) -> Int32 {
        guard !goingAway else { return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue }
        let stream = HTTP2Stream(id: id, connection: self)
        streams[id] = stream
        server.count(\.http2Streams)
        idleTimer?.cancel()
        stream.begin()
        return 0
    }

    /// A header block far past the limit (an HPACK bomb: small on the wire, huge decoded) is
    /// not decoded to its end: the stream is reset (nghttp2 then stops delivering its fields).
    fileprivate func header(stream id: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let stream = streams[id] else { return 0 }
        return stream.addField(name: name, value: value) ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
    }

    /// `length`: the payload without padding.
    fileprivate func frameReceived(type: UInt8, flags: UInt8, stream id: Int32, length: Int, headersCategory: UInt32) -> Int32 {
        let endStream = flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch Int(type) {
        case Int(NGHTTP2_HEADERS.rawValue):
            guard let stream = streams[id] else { return 0 }
            if headersCategory == NGHTTP2_HCAT_REQUEST.rawValue {
                stream.headComplete(endStream: endStream)
            } else if endStream {
                stream.requestComplete()
            }
        case Int(NGHTTP2_DATA.rawValue):
            if length == 0 && !endStream, !spendControlToken() { return 0 }
            if endStream { streams[id]?.requestComplete() }
        case Int(NGHTTP2_SETTINGS.rawValue), Int(NGHTTP2_PING.rawValue):
            if flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { _ = spendControlToken() }
        case Int(NGHTTP2_PRIORITY.rawValue):
            _ = spendControlToken()
        case Int(NGHTTP2_RST_STREAM.rawValue):
            server.count(\.http2ResetsReceived)
        default:
            break
        }
        return 0
    }

    /// A control frame costs a token; out of tokens, the connection is told to calm down and ends.
    private func spendControlToken() -> Bool {
        let now = Clock.monotonicSeconds()
        controlTokens = min(Self.controlFrameBurst, controlTokens + (now - controlRefilled) * Self.controlFramesPerSecond)
        controlRefilled = now
        controlTokens -= 1
        guard controlTokens < 0 else { return true }
        if !goingAway, let session {
            server.count(\.http2Floods)
            goingAway = true
            nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
        return false
    }

    /// Flow control is acknowledged by hand (no automatic WINDOW_UPDATE): at once for every
    /// body byte, except a paused streamed body's, acknowledged when the handler resumes.
    fileprivate func dataChunk(stream id: Int32, _ data: UnsafeBufferPointer<UInt8>) {
        let acknowledged = streams[id]?.receive(data) ?? data.count
        if acknowledged > 0 { consume(stream: id, acknowledged) }
    }

    func consume(stream id: Int32, _ count: Int) {
        guard !closed, let session else { return }
        _ = nghttp2_session_consume(session, id, count)
        scheduleSend()
    }

    fileprivate func frameSent(type: UInt8, flags: UInt8, stream id: Int32, errorCode: UInt32) {
        if Int(type) == Int(NGHTTP2_GOAWAY.rawValue) {
            goingAway = true
            if errorCode == NGHTTP2_ENHANCE_YOUR_CALM.rawValue { server.count(\.http2CalmGoaways) }
            return
        }
        // A reset the client provoked (a window overflow, a malformed header on a stream, ...)
        // frees a stream slot like a reset it sent itself ("MadeYouReset", CVE-2025-8671):
        // each costs a control token. The relay's own resets (CANCEL, NO_ERROR) cost nothing.
        if Int(type) == Int(NGHTTP2_RST_STREAM.rawValue), errorCode != NGHTTP2_NO_ERROR.rawValue,
           errorCode != NGHTTP2_CANCEL.rawValue {
            _ = spendControlToken()
            return
        }
        // A response that ended before the request did: the rest of the request is not wanted
        // (RFC 9113 section 8.1: RST_STREAM with NO_ERROR after a complete response).
        if flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0, let stream = streams[id], !stream.requestEnded {
            resetStream(id, code: NGHTTP2_NO_ERROR.rawValue)
        }
    }

    fileprivate func streamClosed(_ id: Int32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.closedByPeerOrConnection()
        if streams.isEmpty {
            if goingAway || server.closeAfterEveryResponse { beginGoingAway() }
            armIdle()
        }
    }

    // MARK: Deadlines and the end

    private func armIdle() {
        guard streams.isEmpty, !closed else { return }
        if let common = server.idleTimeout { idleTimer?.arm(common: common) } else { idleTimer?.arm(server.limits.keepAliveTimeoutSeconds) }
    }

    private func idleTimeoutPassed() {
        guard streams.isEmpty else { return }
        server.count(\.idleTimeouts)
        beginGoingAway()
        flush()
        close()
    }

    /// A stream whose queued bytes have not moved for the write timeout (its window stays
    /// shut) is reset; checked every few seconds while any stream holds bytes.
    func armStallCheck() {
        guard !stallCheckArmed, !closed else { return }
        stallCheckArmed = true
        if stallTimer == nil {
            stallTimer = LoopTimer(loop: server.loop) { [unowned self] in self.checkStalls() }
        }
        stallTimer?.arm(min(5, server.limits.writeTimeoutSeconds))
    }

    private var stallCheckArmed = false

    private func checkStalls() {
        stallCheckArmed = false
        let now = Clock.monotonicSeconds()
        var waiting = false
        for stream in streams.values where stream.pendingBytes > 0 {
            if now - stream.lastProgress >= server.limits.writeTimeoutSeconds {
                server.count(\.http2StalledStreams)
                resetStream(stream.id, code: NGHTTP2_CANCEL.rawValue)
            } else {
                waiting = true
            }
        }
        if waiting { armStallCheck() }
    }

    /// No new streams from here on; those open finish.
    private func beginGoingAway() {
        guard !goingAway, !closed, let session else { return }
        goingAway = true
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                                  NGHTTP2_NO_ERROR.rawValue, nil, 0)
        scheduleSend()
    }

    func drain() {
        beginGoingAway()
    }

    private func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_TIMEOUT) != 0 { server.count(\.writeTimeouts) }
        close()
    }

    func close() {
        guard !closed else { return }
        withExtendedLifetime(self) {
            closed = true
            idleTimer?.cancel()
            stallTimer?.cancel()
            sendTask = nil
            bufferevent_free(bev)
            if let session { nghttp2_session_del(session) }
            session = nil
            let open = streams.values
            streams = [:]
            for stream in open { stream.closedByPeerOrConnection() }
            server.connectionClosed(self)
        }
    }

    fileprivate static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2Connection? {
        guard let user else { return nil }
        let connection = Unmanaged<HTTP2Connection>.fromOpaque(user).takeUnretainedValue()
        return connection.closed ? nil : connection
    }
}

/// The nghttp2 session's setup and its C callbacks, which forward to the connection.
enum HTTP2Session {
    static func makeServer(user: UnsafeMutableRawPointer, limits: HTTPServerLimits) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, user in
            guard let connection = HTTP2Connection.from(user), let data else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return connection.send(data, length)
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, user in
            guard let connection = HTTP2Connection.from(user), let frame, let header else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            return connection.sendData(stream: frame.pointee.hd.stream_id, header: header, length: length)
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let connection = HTTP2Connection.from(user), let frame else { return 0 }
            guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
            return connection.beginHeaders(stream: frame.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            guard let connection = HTTP2Connection.from(user), let frame, let name, let value else { return 0 }
            return connection.header(stream: frame.pointee.hd.stream_id, name: UnsafeBufferPointer(start: name, count: nameLength),
                                     value: UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let connection = HTTP2Connection.from(user), let frame else { return 0 }
            let hd = frame.pointee.hd
            let category = hd.type == UInt8(NGHTTP2_HEADERS.rawValue) ? frame.pointee.headers.cat.rawValue : 0
            // A DATA frame of padding alone is as empty as one without any.
            let padding = hd.type == UInt8(NGHTTP2_DATA.rawValue) ? frame.pointee.data.padlen : 0
            return connection.frameReceived(type: hd.type, flags: hd.flags, stream: hd.stream_id, length: hd.length - padding,
                                            headersCategory: category)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            guard let connection = HTTP2Connection.from(user), let data else { return 0 }
            connection.dataChunk(stream: streamID, UnsafeBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, user in
            guard let connection = HTTP2Connection.from(user), let frame else { return 0 }
            let hd = frame.pointee.hd
            let code = hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) ? frame.pointee.goaway.error_code
                : hd.type == UInt8(NGHTTP2_RST_STREAM.rawValue) ? frame.pointee.rst_stream.error_code : 0
            connection.frameSent(type: hd.type, flags: hd.flags, stream: hd.stream_id, errorCode: code)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, user in
            HTTP2Connection.from(user)?.streamClosed(streamID)
            return 0
        }

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096)
        nghttp2_option_set_max_outbound_ack(option, 100)
        nghttp2_option_set_max_settings(option, 32)
        nghttp2_option_set_max_continuations(option, 8)
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(limits.http2ResetBurst), UInt64(limits.http2ResetsPerSecond))
        nghttp2_option_set_no_closed_streams(option, 1)
        nghttp2_option_set_no_auto_window_update(option, 1)

        var session: OpaquePointer?
        guard nghttp2_session_server_new2(&session, callbacks, user, option) == 0, let session else { return nil }
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(limits.http2MaxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(limits.maxHeadBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE.rawValue), value: 4096),
        ]
        guard nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0 else {
            nghttp2_session_del(session)
            return nil
        }
        return session
    }

    /// The data provider's read callback (nghttp2 calls it with the session's user data).
    static let readCallback: nghttp2_data_source_read_callback = { _, streamID, _, length, flags, _, user in
        guard let connection = HTTP2Connection.from(user), let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        return connection.readData(stream: streamID, length: length, flags: flags)
    }
}
