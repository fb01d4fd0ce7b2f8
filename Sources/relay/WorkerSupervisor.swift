// WorkerSupervisor: `relay serve --workers N`. Starts N relay processes that share the listen
// port (SO_REUSEPORT: the kernel spreads connections among them). Each is an independent node
// with its own Redis connections; no memory is shared. A worker that dies is restarted. With
// no Redis configured the supervisor owns the embedded redis-server and the dev environment,
// and hands both to the workers. SIGTERM/SIGINT is forwarded; the workers drain; exit 0.
import Foundation
import Logging
import RelayCore
import RelayIO

final class WorkerSupervisor {
    private var config: RelayConfig
    private let configFile: String?
    private let logger: Logger
    private var workers: [Process?]
    private var stopping = false

    init(config: RelayConfig, configFile: String?) {
        self.config = config
        self.configFile = configFile
        bootstrapLogging(level: config.logLevel)
        logger = Logger(label: "relay-supervisor")
        workers = Array(repeating: nil, count: config.workers)
    }

    func run() throws {
        var embedded: EmbeddedRedis?
        if config.redisURL.isEmpty {
            let redis = try EmbeddedRedis.startForRelay(config: &config, logger: logger)
            embedded = redis
            config.redisURL = "unix:\(redis.socketPath)"
        }
        var environment = ProcessInfo.processInfo.environment
        let environments = try JSONEncoder().encode(config.environments)
        environment["RELAY_ENVIRONMENTS"] = String(decoding: environments, as: UTF8.self)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var arguments = ["serve", "--worker-child", "--listen", config.listen, "--redis", config.redisURL]
        if let configFile { arguments += ["--config", configFile] }

        let loop = EventLoop()
        func spawn(_ index: Int) {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            var env = environment
            env["RELAY_WORKER_INDEX"] = String(index)
            process.environment = env
            do {
                try process.run()
                workers[index] = process
                logger.info("worker started", metadata: ["worker": "\(index)", "pid": "\(process.processIdentifier)"])
            } catch {
                logger.error("cannot start worker", metadata: ["worker": "\(index)", "error": "\(error)"])
            }
        }
        for index in workers.indices { spawn(index) }
        print("relay: \(workers.count) workers on http://\(config.listen)")
        fflush(stdout)

        let watch = loop.every(0.25) { [self] in
            if let embedded, !stopping { embedded.supervise(logger: logger) }
            for index in workers.indices {
                guard let process = workers[index], !process.isRunning else { continue }
                if stopping { workers[index] = nil; continue }
                logger.warning("worker exited; restarting", metadata: ["worker": "\(index)", "status": "\(process.terminationStatus)"])
                spawn(index)
            }
            if stopping && workers.allSatisfy({ $0 == nil }) { loop.stop() }
        }
        var killTimer: LoopTimer?
        let stop = { [self] (name: String) in
            guard !stopping else { return }
            stopping = true
            logger.info("stopping workers", metadata: ["signal": "\(name)"])
            for case let process? in workers where process.isRunning { kill(process.processIdentifier, SIGTERM) }
            killTimer = loop.after(config.drainTimeoutSeconds + 5) { [self] in
                for case let process? in workers where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        let term = SignalWatcher(loop: loop, signal: SIGTERM) { stop("SIGTERM") }
        let int = SignalWatcher(loop: loop, signal: SIGINT) { stop("SIGINT") }
        loop.run()
        withExtendedLifetime((watch, term, int, killTimer)) {}
        embedded?.stop()
        logger.info("stopped")
    }
}
