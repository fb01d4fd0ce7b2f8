// RedisServer.swift: a real redis-server for one test class.
//
// Started from PATH on a free 127.0.0.1 port, without persistence, in its own temporary
// directory; `start` returns once it answers PING. `restart` keeps the port, for tests that
// take Redis away from a running relay and bring it back.

import Foundation

final class RedisServer {
    let port: UInt16
    let directory: URL
    private var child: ChildProcess?

    var url: String { "redis://127.0.0.1:\(port)" }
    var isRunning: Bool { child?.isRunning ?? false }

    /// With `persistent`, an append-only file keeps the data across `restart` (fault tests).
    let persistent: Bool

    init(port: UInt16? = nil, persistent: Bool = false) throws {
        self.port = try port ?? freeLocalPort()
        self.persistent = persistent
        directory = try makeTemporaryDirectory(prefix: "relay-it-redis")
    }

    /// Starts redis-server and waits (at most `timeout`) until it answers PING.
    func start(timeout: TimeInterval = 10) throws {
        guard child == nil else { throw HarnessError("redis-server on port \(port) already started") }
        guard let executable = ChildProcess.findExecutable("redis-server") else {
            throw HarnessError("redis-server not found on PATH (Debian: apt-get install -y redis-server)")
        }
        let process = ChildProcess(
            name: "redis-server", executable: executable,
            arguments: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", persistent ? "yes" : "no",
                        "--daemonize", "no", "--dir", directory.path],
            environment: nil, logURL: directory.appendingPathComponent("redis.log"))
        try process.launch()
        child = process
        do {
            try waitUntil(timeout: timeout, "redis-server on port \(port) to answer PING") {
                guard process.isRunning else {
                    throw HarnessError("redis-server exited with \(process.exitStatus ?? -1):\n\(process.logTail())")
                }
                return (try? RedisClient(port: port, timeout: 1).ping()) != nil
            }
        } catch {
            stop()
            throw HarnessError("\(error)\nredis-server output:\n\(process.logTail())")
        }
    }

    /// SIGTERM, bounded wait, SIGKILL. Safe to call when already stopped.
    func stop() {
        child?.stop(timeout: 10)
        child = nil
    }

    /// Stops the process and starts a new one on the same port (the data survives only when
    /// `persistent`).
    func restart(timeout: TimeInterval = 10) throws {
        stop()
        try start(timeout: timeout)
    }

    /// A new connection to this server.
    func client(timeout: TimeInterval = 5) throws -> RedisClient {
        try RedisClient(port: port, timeout: timeout)
    }

    /// Stops the server and removes its directory.
    func destroy() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
