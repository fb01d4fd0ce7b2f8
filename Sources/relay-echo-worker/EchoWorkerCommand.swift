// relay-echo-worker [--relay http://HOST:PORT] [--redis URL] [--environment ID] [--secret-key KEY]
import ArgumentParser
import Foundation
import Logging
import RelayIO
import RelayRedis
import RelayStorage

@main
struct EchoWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay-echo-worker",
        abstract: "Example worker: echoes every .in record of a run's session to .out.")

    @Option(help: "The relay's base URL.")
    var relay = "http://127.0.0.1:8080"

    @Option(help: "The relay's Redis (redis://HOST:PORT, redis-cluster://HOST:PORT[,HOST:PORT...] or unix:/PATH). Default: the embedded relay's socket in ./relay-data.")
    var redis: String?

    @Option(help: "The environment whose runs to take.")
    var environment = "env_dev"

    @Option(help: "A secret key of that environment (or RELAY_SECRET_KEY; default: ./relay-data/dev-secret-key).")
    var secretKey: String?

    @Option(help: "The relay's Redis key prefix.")
    var keyPrefix = "relay:"

    @Option(help: "Seconds of silence after which a run completes, when its triggerConfig sets none.")
    var idleTimeout = 30

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "relay-echo-worker")
        guard let url = URL(string: relay), let host = url.host, let port = url.port.map(UInt16.init) ?? 80 as UInt16? else {
            throw ValidationError("--relay: expected http://HOST:PORT")
        }
        let cwd = FileManager.default.currentDirectoryPath
        let target = try RedisURL.target(redis ?? "unix:\(cwd)/relay-data/redis.sock")
        let key = secretKey ?? ProcessInfo.processInfo.environment["RELAY_SECRET_KEY"]
            ?? (try? String(contentsOfFile: "\(cwd)/relay-data/dev-secret-key", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let key, !key.isEmpty else { throw ValidationError("--secret-key or RELAY_SECRET_KEY is required") }
        let loop = EventLoop()
        let worker = EchoWorker(loop: loop, config: EchoWorkerConfig(
            relayHost: host, relayPort: port, redis: target, environmentId: environment, secretKey: key,
            keyPrefix: keyPrefix, consumer: "echo-\(ProcessInfo.processInfo.hostName)-\(getpid())",
            defaultIdleTimeout: idleTimeout), logger: logger)
        worker.start()
        let term = SignalWatcher(loop: loop, signal: SIGTERM) { loop.stop() }
        let int = SignalWatcher(loop: loop, signal: SIGINT) { loop.stop() }
        logger.info("echo worker started", metadata: ["relay": "\(relay)", "redis": "\(target)", "environment": "\(environment)"])
        loop.run()
        withExtendedLifetime((worker, term, int)) {}
    }
}
