// RespConnection: one raw RESP2 connection to a Redis server on the libevent loop: the only
// Redis connection type of the relay (commands, replicated writes, pub/sub; see
// RelayRedis/RedisNode.swift). It owns the socket itself (a bufferevent) and only borrows
// hiredis' reply reader and command formatter: hiredis 0.14's async API cannot carry sharded
// pub/sub (an `smessage` push with no pending callback trips its assertion). It has no notion
// of which reply answers which command: every reply and every push goes, in arrival order, to
// one `onReply` closure, and the owner matches them (CommandLane, PubSubShard).
// One connection, one socket: reconnecting is the owner's decision (a new RespConnection).
// See Interop.md ("RespConnection") for the ownership rules.
internal import CHiredis
internal import CLibevent
internal import CRelayShims

/// Where a Redis server listens.
public enum RedisEndpoint: Equatable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

public final class RespConnection {
    /// The default cap on the bytes of the reply being read, and on the output not yet written.
    public static let defaultMaxBufferedBytes = 64 << 20

    private let loop: EventLoop
    public let endpoint: RedisEndpoint
    private let maxBufferedBytes: Int
    private let connectTimeoutSeconds: Double
    private var bev: OpaquePointer?
    private let reader: UnsafeMutablePointer<redisReader>
    /// Bytes fed to the reader since the last complete reply: what the reply being read
    /// holds (its unparsed bytes and the part already parsed into hiredis objects).
    private var readingBytes = 0
    private var connectTimer: LoopTimer?
    /// Writes the commands queued in this loop iteration at its end (see `flushNow`).
    private var flushTask: LoopTask?
    /// Inside `connect()`: libevent reports an immediate failure synchronously; it is
    /// reported to the owner from the loop instead, never from inside its own call.
    private var insideConnect = false
    private var failure: String?
    private var started = false

    /// True between the connect and the end of the connection.
    public private(set) var isConnected = false
    /// The connect finished: nil, or why it failed (the connection is then closed).
    public var onConnect: ((_ error: String?) -> Void)?
    /// The connection ended after it was connected: nil when the server closed it, else why.
    /// Not called for `disconnect()`.
    public var onDisconnect: ((_ error: String?) -> Void)?
    /// Every reply and push, in arrival order.
    public var onReply: ((RedisReply) -> Void)?

    public init(loop: EventLoop, endpoint: RedisEndpoint, maxBufferedBytes: Int = RespConnection.defaultMaxBufferedBytes,
                connectTimeoutSeconds: Double = 5) {
        self.loop = loop
        self.endpoint = endpoint
        self.maxBufferedBytes = maxBufferedBytes
        self.connectTimeoutSeconds = connectTimeoutSeconds
        guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
        self.reader = reader
        flushTask = LoopTask(loop: loop) { [weak self] in self?.flushNow() }
    }

    /// The bufferevent goes first: no callback can reach this object after it.
    deinit {
        if let bev { bufferevent_free(bev) }
        redisReaderFree(reader)
    }

    /// Starts connecting; `onConnect` reports the outcome, always later, from the loop.
    /// Returns false (and reports nothing) if this connection was started before or the
    /// socket cannot be made at all.
    @discardableResult
    public func connect() -> Bool {
        loop.assertOnLoopThread()
        guard !started, let bev = bufferevent_socket_new(loop.base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else { return false }
        started = true
        self.bev = bev
        let me = Unmanaged.passUnretained(self).toOpaque()
        // The callbacks get this object unretained: its owner keeps it alive, and deinit (or
        // close) frees the bufferevent first. Held for the duration of each callback, as the
        // owner may let it go from inside onReply / onDisconnect.
        bufferevent_setcb(bev, { _, arg in
            let connection = Unmanaged<RespConnection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(connection) { connection.readable() }
        }, nil, { _, events, arg in
            let connection = Unmanaged<RespConnection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(connection) { connection.event(events) }
        }, me)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        // libevent writes at most 16 KiB per write event by default: under load a burst of
        // pipelined commands (an append's script call is about half a KiB) would leave part of
        // itself for the next loop iteration. Commands are written as they come.
        bufferevent_set_max_single_write(bev, Self.maxWritePerEvent)
        bufferevent_set_max_single_read(bev, Self.maxReadPerCallback)
        connectTimer = loop.after(connectTimeoutSeconds) { [weak self] in self?.fail("connect timed out") }
        insideConnect = true
        let started: Int32
        switch endpoint {
        case .tcp(let host, let port):
            // Without a DNS base libevent resolves with a blocking getaddrinfo, as hiredis does.
            started = bufferevent_socket_connect_hostname(bev, nil, 0 /* AF_UNSPEC */, host, Int32(port))
        case .unix(let path):
            started = relay_bev_connect_unix(bev, path)
        }
        insideConnect = false
        if started != 0 && failure == nil { failure = "cannot connect to \(endpoint)" }
        if let failure {
            loop.after(0) { [weak self] in self?.fail(failure) }
        }
        return true
    }

    /// Queues a command (hiredis formats it; binary-safe). Commands sent while connecting go
    /// out once connected. Returns false when the connection is closed or over its output cap
    /// (it is then dropped and `onDisconnect` / `onConnect` reports it from the loop).
    @discardableResult
    public func send(_ args: [[UInt8]]) -> Bool {
        loop.assertOnLoopThread()
        guard let bev, failure == nil else { return false }
        var command: UnsafeMutablePointer<CChar>?
        let length = withRedisArgv(args) { argc, argv, lengths in
            redisFormatCommandArgv(&command, argc, argv, lengths)
        }
        guard length > 0, let command else { return false }
        // bufferevent_write copies the bytes; hiredis' buffer is freed right after.
        let added = bufferevent_write(bev, command, Int(length))
        redisFreeCommand(command)
        if added != 0 {
            failSoon("cannot queue a command")
            return false
        }
        if evbuffer_get_length(bufferevent_get_output(bev)) > maxBufferedBytes {
            failSoon("output over \(maxBufferedBytes) bytes: Redis is not reading")
            return false
        }
        if isConnected { flushTask?.schedule() }
        return true
    }

    @discardableResult
    public func send(_ args: [String]) -> Bool {
        send(args.map { Array($0.utf8) })
    }

    /// Writes what is queued now, at the end of the loop iteration in which the commands were
    /// sent: they leave together in one system call, without waiting for the next poll (the
    /// bufferevent's own write would come one loop iteration later, after every other ready
    /// socket, which under load cost appends a tenth of their throughput). What the socket does
    /// not take, and a dead socket, are left to the bufferevent.
    private func flushNow() {
        guard let bev, isConnected else { return }
        let output = bufferevent_get_output(bev)
        let fd = bufferevent_getfd(bev)
        var data: UnsafePointer<CChar>?
        while true {
            let length = relay_evbuffer_first_chunk(output, &data)
            guard length > 0, let data else { return }
            let sent = relay_send_now(fd, data, UInt(length))
            guard sent > 0 else { return }
            // A bufferevent keeps the front of its output frozen outside its own write:
            // thawed to drain what was just sent.
            evbuffer_unfreeze(output, 1)
            evbuffer_drain(output, Int(sent))
            evbuffer_freeze(output, 1)
            if sent < length { return }
        }
    }

    /// Closes at once. Nothing is reported for it (no onConnect, no onDisconnect); replies not
    /// yet delivered are dropped. Safe inside this connection's own callbacks.
    public func disconnect() {
        loop.assertOnLoopThread()
        close()
    }

    // MARK: Callbacks

    private func event(_ events: Int16) {
        let what = Int32(events)
        let connected = what & Int32(BEV_EVENT_CONNECTED) != 0
        // errno is only meaningful now, inside the callback.
        let reason: String? = connected || what & Int32(BEV_EVENT_EOF) != 0
            ? nil : (bev.map { String(cString: relay_bev_error_text($0)) } ?? "connection error")
        if insideConnect {
            // libevent reported it synchronously, inside connect(): tell the owner from the loop.
            if connected {
                loop.after(0) { [weak self] in self?.settle(connected: true, reason: nil) }
            } else {
                failure = reason ?? "connection closed"
            }
            return
        }
        settle(connected: connected, reason: reason)
    }

    private func settle(connected: Bool, reason: String?) {
        guard let bev else { return }
        guard connected else { return fail(reason) }
        connectTimer?.cancel()
        connectTimer = nil
        isConnected = true
        if case .tcp = endpoint { relay_tcp_tune(bufferevent_getfd(bev)) }
        onConnect?(nil)
    }

    /// The most read from the socket in one read callback (libevent's read and ours after it),
    /// and the most written in one write event.
    static let maxReadPerCallback = 256 << 10
    static let maxWritePerEvent = 256 << 10

    private func readable() {
        guard let bev else { return }
        let input = bufferevent_get_input(bev)
        let fd = bufferevent_getfd(bev)
        var data: UnsafePointer<CChar>?
        // Less than libevent's 4 KiB read means the socket had no more: no extra read.
        var extra = evbuffer_get_length(input) >= 4096 ? 0 : Self.maxReadPerCallback
        while self.bev != nil {
            let length = relay_evbuffer_first_chunk(input, &data)
            guard length > 0, let data else {
                // libevent reads at most 4 KiB per read event: under load the rest of the
                // replies would wait a whole loop iteration (every other ready socket first).
                // Take what the socket holds now. EOF and errors are left for the bufferevent,
                // which sees them on its next read.
                guard extra < Self.maxReadPerCallback else { return }
                // A bufferevent keeps the end of its input frozen outside its own read:
                // thawed for this read only.
                evbuffer_unfreeze(input, 0)
                let got = evbuffer_read(input, fd, 16 << 10)
                evbuffer_freeze(input, 0)
                guard got > 0 else { return }
                // Again only while reads come back full.
                extra += got >= 4096 ? Int(got) : Self.maxReadPerCallback
                continue
            }
            // The reader copies the bytes; the chunk is drained right after.
            guard redisReaderFeed(reader, data, length) == REDIS_OK else {
                return fail("out of memory reading a reply")
            }
            evbuffer_drain(input, length)
            readingBytes += length
            if readingBytes > maxBufferedBytes {
                return fail("a reply over \(maxBufferedBytes) bytes")
            }
            deliverReplies()
        }
    }

    /// Hands every complete reply in the reader to `onReply`; stops if the owner closes.
    private func deliverReplies() {
        while bev != nil {
            var object: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &object) == REDIS_OK else {
                let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                return fail("protocol error: \(message)")
            }
            guard let object else { return }
            // hiredis owns the reply object: copy it into a value, then free it.
            let reply = RedisReply(object.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(object)
            readingBytes = reader.pointee.len - reader.pointee.pos
            onReply?(reply)
        }
    }

    // MARK: Closing

    /// Closes and reports why: as a failed connect before the connection was up, else as a
    /// disconnect. At most once (a closed connection reports nothing more).
    private func fail(_ reason: String?) {
        guard bev != nil else { return }
        let wasConnected = isConnected
        close()
        if wasConnected {
            onDisconnect?(reason)
        } else {
            onConnect?(reason ?? "connection closed")
        }
    }

    /// For failures found inside the owner's own call (`send`): reported from the loop.
    private func failSoon(_ reason: String) {
        guard failure == nil else { return }
        failure = reason
        loop.after(0) { [weak self] in self?.fail(reason) }
    }

    private func close() {
        connectTimer?.cancel()
        connectTimer = nil
        isConnected = false
        if let bev {
            // Frees the socket too (BEV_OPT_CLOSE_ON_FREE); libevent allows this inside the
            // bufferevent's own callbacks, and none runs after it.
            self.bev = nil
            bufferevent_free(bev)
        }
    }

}
