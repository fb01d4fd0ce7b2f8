// RedisConnection: one async hiredis connection driven by the libevent loop.
// It connects, sends commands with binary-safe argv, reports replies as RedisReply values and
// tells its owner when the link drops; reconnecting is the owner's decision (a new connection).
// See Interop.md for the threading and ownership rules of this module.
internal import CHiredis
internal import CLibevent
internal import CRelayShims

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

public final class RedisConnection {
    public typealias Completion = (RedisReply) -> Void

    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private let loop: EventLoop
    public let endpoint: RedisEndpoint
    /// True between the connect callback's success and the disconnect.
    public private(set) var isConnected = false
    public var onConnect: ((_ error: String?) -> Void)?
    public var onDisconnect: ((_ error: String?) -> Void)?

    public init(loop: EventLoop, endpoint: RedisEndpoint) {
        self.loop = loop
        self.endpoint = endpoint
    }

    /// Starts connecting. Returns false (and reports through onConnect) if hiredis fails at once.
    /// The connection retains itself until hiredis reports the disconnect.
    @discardableResult
    public func connect() -> Bool {
        let ac: UnsafeMutablePointer<redisAsyncContext>?
        switch endpoint {
        case .tcp(let host, let port): ac = redisAsyncConnect(host, Int32(port))
        case .unix(let path): ac = redisAsyncConnectUnix(path)
        }
        guard let ac else { onConnect?("out of memory"); return false }
        if let message = relay_redis_errstr(ac) {
            let text = String(cString: message)
            redisAsyncFree(ac)
            onConnect?(text)
            return false
        }
        context = ac
        if case .tcp = endpoint {
            // Notice a peer that vanished without a reset (a partition) within minutes, not hours.
            withUnsafeMutablePointer(to: &ac.pointee.c) { _ = redisEnableKeepAlive($0) }
        }
        ac.pointee.data = Unmanaged.passRetained(self).toOpaque()
        relay_redis_attach(ac, loop.base)
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            let connection = Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
            if status == REDIS_OK {
                connection.isConnected = true
                connection.onConnect?(nil)
            } else {
                // hiredis frees the context after a failed connect; the disconnect callback is not called.
                let message = relay_redis_errstr(ac).map { String(cString: $0) } ?? "connect failed"
                connection.context = nil
                Unmanaged<RedisConnection>.fromOpaque(data).release()
                connection.onConnect?(message)
            }
        }
        redisAsyncSetDisconnectCallback(ac) { ac, status in
            guard let ac, let data = ac.pointee.data else { return }
            let connection = Unmanaged<RedisConnection>.fromOpaque(data).takeRetainedValue()
            let message = status == REDIS_OK ? nil : (relay_redis_errstr(ac).map { String(cString: $0) } ?? "connection lost")
            connection.context = nil
            connection.isConnected = false
            connection.onDisconnect?(message)
        }
        return true
    }

    /// Set by `abort(timedOut:)`: pending commands then fail as timed out, not as lost.
    private var abortedForTimeout = false

    /// Sends a command. `completion` runs exactly once: with the reply, or with
    /// `.failure(.connectionLost)` (`.timedOut`) when the connection goes away first.
    public func send(_ args: [[UInt8]], _ completion: @escaping Completion) {
        loop.assertOnLoopThread()
        guard let context else { completion(.failure(.notConnected)); return }
        let box = Unmanaged.passRetained(CompletionBox(completion)).toOpaque()
        let status = withRedisArgv(args) { argc, argv, lengths in
            redisAsyncCommandArgv(context, { ac, reply, privdata in
                guard let privdata else { return }
                let box = Unmanaged<CompletionBox>.fromOpaque(privdata).takeRetainedValue()
                if let reply {
                    box.completion(RedisReply(reply.assumingMemoryBound(to: redisReply.self)))
                } else {
                    // Teardown: the context (and its data, this connection) is still valid here.
                    let timedOut = ac?.pointee.data.map {
                        Unmanaged<RedisConnection>.fromOpaque($0).takeUnretainedValue().abortedForTimeout
                    } ?? false
                    box.completion(.failure(timedOut ? .timedOut : .connectionLost))
                }
            }, box, argc, argv, lengths)
        }
        if status != REDIS_OK {
            Unmanaged<CompletionBox>.fromOpaque(box).release()
            completion(.failure(.notSent))
        }
    }

    public func send(_ args: [String], _ completion: @escaping Completion) {
        send(args.map { Array($0.utf8) }, completion)
    }

    /// Drops the connection at once (Redis stopped answering): every pending command completes
    /// with `.failure(.timedOut)` (or `.connectionLost`), then onDisconnect runs.
    public func abort(timedOut: Bool = false) {
        guard let context, isConnected else { return }
        abortedForTimeout = timedOut
        redisAsyncFree(context)
    }

    /// Closes after pending replies arrive; onDisconnect runs.
    public func disconnect() {
        if let context { redisAsyncDisconnect(context) }
    }

}

private final class CompletionBox {
    let completion: RedisConnection.Completion
    init(_ completion: @escaping RedisConnection.Completion) { self.completion = completion }
}

/// What a pub/sub subscription reports.
public enum PubSubEvent: Equatable, Sendable {
    case subscribed
    case message([UInt8])
    case unsubscribed
    /// The connection went away; the subscription is over.
    case connectionLost
}
