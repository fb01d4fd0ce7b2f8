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
    static let configuration = CommandConfiguration(
        abstract: "Serve the sessions API and channels.",
        discussion: RelayConfig.helpText)

    @Option(help: "A YAML config file (see config/relay.example.yaml).")
    var config: String?

    // One flag per setting that has one in RelaySettings (its `flag`), read as text and
    // parsed and checked by the table like the file and the environment.
    @Option(help: ArgumentHelp(RelayConfig.flagHelp("listen"), valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp(RelayConfig.flagHelp("redis"), valueName: "url"))
    var redis: String?

    @Option(help: ArgumentHelp(RelayConfig.flagHelp("workers"), valueName: "n"))
    var workers: String?

    @Flag(help: .hidden)
    var workerChild = false

    /// The settings from the file, the environment and the flags, checked.
    func settings(environment: [String: String]) throws -> RelayConfig {
        var settings = RelayConfig()
        if let config { settings = try RelayConfig.load(file: config) }
        try settings.applyEnvironment(environment)
        for (flag, text) in [("listen", listen), ("redis", redis), ("workers", workers)] {
            if let text { try settings.apply(flag: flag, text: text) }
        }
        try settings.validate()
        return settings
    }

    func run() throws {
        let settings: RelayConfig
        do {
            settings = try self.settings(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("relay: config error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        do {
            if settings.workers > 1 && !workerChild {
                try WorkerSupervisor(config: settings, configFile: config).run()
            } else {
                let status = try RelayNode(config: settings, reusePort: workerChild).run()
                if status != 0 { throw ExitCode(status) }
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("relay: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
