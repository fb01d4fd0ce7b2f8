// EmbeddedRedis: the redis-server `relay serve` starts when no Redis URL is configured.
// It listens on a private unix socket in the data directory (no TCP port), keeps an
// append-only file there, is restarted if it dies, and is stopped when the relay exits.
import Foundation
import Logging

final class EmbeddedRedis {
    let dataDir: URL
    let binary: String
    private var process: Process?
    private(set) var restarts = 0

    var socketPath: String { dataDir.appendingPathComponent("redis.sock").path }

    init(dataDir: String, binary: String) {
        self.dataDir = URL(fileURLWithPath: dataDir).standardizedFileURL
        self.binary = binary
    }

    /// What a supervision tick found.
    enum Supervision: Equatable {
        case running
        case restarted
        /// It died again soon after a restart (or could not be started): the reason, for the log.
        case failing(String)
    }

    private var launchedAt = Date.distantPast
    /// Whether the running process was a restart (not the first start).
    private var isRestart = false

    /// Starts redis-server and waits (bounded) until its socket accepts connections. Only at
    /// startup, before the event loop runs: a restart from the loop never waits (see
    /// `superviseTick`), the Redis link simply reconnects once the socket is there.
    func start() throws {
        let process = try launch()
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard process.isRunning else {
                throw ConfigError(description: "embedded redis-server exited at start; see \(dataDir.path)/redis.log")
            }
            guard Date() < deadline else { throw ConfigError(description: "embedded redis-server did not start within 10 s") }
            usleep(20_000)
        }
    }

    /// Launches redis-server and returns at once.
    @discardableResult
    private func launch() throws -> Process {
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: socketPath)
        let process = Process()
        process.executableURL = try resolve(binary)
        process.arguments = [
            "--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--dir", dataDir.path, "--appendonly", "yes", "--save", "",
            "--daemonize", "no", "--logfile", dataDir.appendingPathComponent("redis.log").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        launchedAt = Date()
        return process
    }

    /// Called once a second on the loop: relaunches redis-server if it died, without waiting
    /// for it. A restarted process that dies within seconds is reported as failing.
    func superviseTick() -> Supervision {
        guard let process, !process.isRunning else { return .running }
        let lived = Date().timeIntervalSince(launchedAt)
        let diedAfterRestart = isRestart
        restarts += 1
        isRestart = true
        do {
            try launch()
        } catch {
            return .failing("cannot launch \(binary): \(error)")
        }
        if diedAfterRestart && lived < 5 {
            return .failing("it exited \(String(format: "%.1f", lived)) s after its previous start (status \(process.terminationStatus)); see \(dataDir.path)/redis.log")
        }
        return .restarted
    }

    /// One supervision tick, logged.
    func supervise(logger: Logger) {
        switch superviseTick() {
        case .running: break
        case .restarted: logger.warning("embedded redis-server died; restarted it")
        case .failing(let reason):
            logger.error("embedded redis-server keeps failing; restarting it", metadata: ["reason": "\(reason)"])
        }
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    private func resolve(_ name: String) throws -> URL {
        if name.contains("/") { return URL(fileURLWithPath: name) }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let candidate = URL(fileURLWithPath: dir).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw ConfigError(description: "redisServer: '\(name)' not found on PATH (apt-get install redis-server, or set redisUrl)")
    }
}
