// The `relay` command line: `relay serve [--config FILE] [--listen HOST:PORT] [--redis URL]`.
import ArgumentParser
import Foundation

@main
struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "A realtime fan-out relay for durable session channels.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sessions API and channels.")

    @Option(help: "A YAML config file (see config/relay.example.yaml).")
    var config: String?

    @Option(help: "HOST:PORT to listen on (overrides RELAY_LISTEN and the file).")
    var listen: String?

    @Option(help: "redis://HOST:PORT, unix:/PATH, or redis-cluster://HOST:PORT[,HOST:PORT...] for Redis Cluster (overrides RELAY_REDIS_URL). Without one, an embedded redis-server is started.")
    var redis: String?

    @Option(help: "Relay processes sharing the port (overrides RELAY_WORKERS); each is an independent node.")
    var workers: Int?

    @Flag(help: .hidden)
    var workerChild = false

    func run() throws {
        var settings = RelayConfig()
        do {
            if let config { settings = try RelayConfig.load(file: config) }
            try settings.applyEnvironment(ProcessInfo.processInfo.environment)
            if let listen { settings.listen = listen }
            if let redis { settings.redisURL = redis }
            if let workers { settings.workers = workers }
            try settings.validate()
        } catch {
            FileHandle.standardError.write(Data("relay: config error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        do {
            if settings.workers > 1 && !workerChild {
                try WorkerSupervisor(config: settings, configFile: config).run()
            } else {
                try RelayNode(config: settings, reusePort: workerChild).run()
            }
        } catch {
            FileHandle.standardError.write(Data("relay: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
