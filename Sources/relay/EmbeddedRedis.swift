// EmbeddedRedis: the redis-server `relay serve` starts when no Redis URL is configured.
// It listens on a private unix socket in the data directory (no TCP port), keeps an
// append-only file there, is restarted if it dies, and is stopped when the relay exits.
import Foundation

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

    /// Starts redis-server and waits (bounded) until its socket accepts connections.
    func start() throws {
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
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socketPath) {
            guard process.isRunning else {
                throw ConfigError(description: "embedded redis-server exited at start; see \(dataDir.path)/redis.log")
            }
            guard Date() < deadline else { throw ConfigError(description: "embedded redis-server did not start within 10 s") }
            usleep(20_000)
        }
    }

    /// Called periodically: restarts redis-server if it died. Returns true if it restarted it.
    func superviseTick() -> Bool {
        guard let process, !process.isRunning else { return false }
        restarts += 1
        do { try start() } catch { return false }
        return true
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
