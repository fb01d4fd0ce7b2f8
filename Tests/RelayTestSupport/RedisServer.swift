// RedisServer.swift: the one redis-server launcher of the tests, and `redisCLI`.
//
// A redis-server from PATH on 127.0.0.1 (a free port unless given) and on a unix socket, in
// its own temporary directory, without persistence unless `persistent` (an append-only file
// that survives `restart`); `start` returns once it answers PING. Faults: `stop` (SIGTERM),
// `kill` (SIGKILL), `pause` (SIGSTOP: the server hangs, its kernel still accepts and keeps the
// connections, like a partition) and `resume`. `start` again, or `restart`, reuses the port.
// The server is a ChildProcess: it dies with the thread that started it (SIGKILL, so that a
// paused one dies too).

#if canImport(Glibc)
import Glibc
#endif
import Foundation

public final class RedisServer {
    public let port: UInt16
    public let directory: URL
    /// With `persistent`, an append-only file keeps the data across `restart` (fault tests).
    public let persistent: Bool
    private var child: ChildProcess?
    private var paused = false

    public var url: String { "redis://127.0.0.1:\(port)" }
    public var socketPath: String { directory.appendingPathComponent("redis.sock").path }
    public var isRunning: Bool { child?.isRunning ?? false }
    /// The server's process id while it runs.
    public var pid: Int32? { child.map(\.pid) }

    public init(port: UInt16? = nil, persistent: Bool = false) throws {
        self.port = try port ?? freeLocalPort()
        self.persistent = persistent
        directory = try makeTemporaryDirectory(prefix: "relay-redis")
    }

    /// Starts redis-server and waits (at most `timeout`) until it answers PING.
    public func start(timeout: TimeInterval = 10) throws {
        guard child == nil else { throw HarnessError("redis-server on port \(port) already started") }
        guard let executable = ChildProcess.findExecutable("redis-server") else {
            throw HarnessError("redis-server not found on PATH (Debian: apt-get install -y redis-server)")
        }
        let process = ChildProcess(
            name: "redis-server :\(port)", executable: executable,
            arguments: ["--port", String(port), "--bind", "127.0.0.1", "--unixsocket", socketPath, "--unixsocketperm", "700",
                        "--save", "", "--appendonly", persistent ? "yes" : "no", "--daemonize", "no", "--dir", directory.path],
            environment: nil, logURL: directory.appendingPathComponent("redis.log"), deathSignal: "KILL")
        try process.launch()
        child = process
        paused = false
        do {
            try waitUntil(timeout: timeout, "redis-server on port \(port) to answer PING") {
                guard process.isRunning else {
                    throw HarnessError("redis-server exited with \(process.exitStatus ?? -1)")
                }
                return (try? redisCLI(port, "PING")) == "PONG"
            }
        } catch {
            stop()
            throw HarnessError("\(error)\nredis-server output:\n\(process.logTail())")
        }
    }

    /// SIGTERM (after SIGCONT if paused), bounded wait, SIGKILL. Safe to call when stopped.
    public func stop(timeout: TimeInterval = 10) {
        resume()
        child?.stop(timeout: timeout)
        child = nil
    }

    /// SIGKILL, and waits for the exit.
    public func kill() {
        guard let child else { return }
        child.send(signal: SIGKILL)
        child.waitForExit(timeout: 10)
        child.stop()  // closes its log
        self.child = nil
        paused = false
    }

    /// SIGSTOP: the server hangs; its kernel still accepts and keeps the connections.
    public func pause() {
        guard let child, !paused else { return }
        child.send(signal: SIGSTOP)
        paused = true
    }

    /// SIGCONT after `pause`.
    public func resume() {
        guard let child, paused else { return }
        child.send(signal: SIGCONT)
        paused = false
    }

    /// Stops the process and starts a new one on the same port (the data survives only when
    /// `persistent`).
    public func restart(timeout: TimeInterval = 10) throws {
        stop()
        try start(timeout: timeout)
    }

    /// Stops the server and removes its directory.
    public func destroy() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// `redis-cli` against this server.
    @discardableResult
    public func cli(_ args: String...) throws -> String { try redisCLI(port, args) }

    /// The last `maxBytes` of the server's log.
    public func logTail(maxBytes: Int = 4_096) -> String { child?.logTail(maxBytes: maxBytes) ?? "(not running)" }
}

/// Runs `redis-cli -p port args...` and returns its output without the trailing newline;
/// throws when redis-cli fails (no server) or takes more than `timeout`.
@discardableResult
public func redisCLI<Port: BinaryInteger>(_ port: Port, _ args: String...) throws -> String { try redisCLI(port, args) }

/// `redisCLI` with the arguments in an array, and commands on stdin (one per line) if given.
@discardableResult
public func redisCLI<Port: BinaryInteger>(_ port: Port, _ args: [String], input: String? = nil,
                                          timeout: TimeInterval = 10) throws -> String {
    let output = try ChildProcess.run("redis-cli", ["-p", String(port)] + args, input: Data((input ?? "").utf8), timeout: timeout)
    let text = String(decoding: output, as: UTF8.self)
    return text.hasSuffix("\n") ? String(text.dropLast()) : text
}
