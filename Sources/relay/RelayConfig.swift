// RelayConfig: the settings of one `relay serve`, read from a YAML file, then RELAY_*
// environment variables, then command-line flags (later wins). What each setting is (key,
// variable, flag, default, bounds, help) is in one table, RelaySettings; this type holds the
// values and reads every source through that table:
//
//   config.workers                        a setting's value (its default until a source sets it)
//   RelayConfig.load(file:)               the YAML file; unknown keys are errors
//   applyEnvironment(_:)                  the RELAY_* variables
//   apply(flag:text:)                     a command-line flag
//   validate()                            the checks that involve two settings
//   RelayConfig.helpText                  every setting, for `relay serve --help`
//
// Every value is parsed and range-checked as it is read, and an error names where it came
// from (the file and key, the variable, or the flag).
import Foundation
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage
import Yams

struct ConfigError: Error, CustomStringConvertible {
    let description: String
}

@dynamicMemberLookup
struct RelayConfig {
    static let table = RelaySettings()
    /// Every setting, in table order.
    static let settings: [any AnySetting] = Mirror(reflecting: table).children.compactMap { $0.value as? any AnySetting }

    /// The values sources have set, by key; a setting not here has its default.
    private var values: [String: any SettingValue] = [:]

    init() {}

    subscript<Value>(dynamicMember path: KeyPath<RelaySettings, Setting<Value>>) -> Value {
        get {
            let setting = Self.table[keyPath: path]
            return values[setting.key].map { $0 as! Value } ?? setting.defaultValue
        }
        set { values[Self.table[keyPath: path].key] = newValue }
    }

    /// The configured environments (the table holds them as `Environments`).
    var environments: [RelayEnvironment] {
        get { self[dynamicMember: \RelaySettings.environments].list }
        set { self[dynamicMember: \RelaySettings.environments] = Environments(list: newValue) }
    }

    static func setting(key: String) -> (any AnySetting)? { settings.first { $0.key == key } }

    // MARK: Sources

    /// Reads the YAML file (a map of keys to values). Unknown keys are errors (a typo should
    /// not pass silently); a key with no value (or null) leaves its setting at the default.
    static func load(file: String) throws -> RelayConfig {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError(description: "cannot read config file \(file)")
        }
        return try load(yaml: text, source: file)
    }

    /// Reads a config file's text; `source` names it in errors.
    static func load(yaml text: String, source: String) throws -> RelayConfig {
        var config = RelayConfig()
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(description: "\(source): not YAML: \(error)")
        }
        guard let root, !root.isNull else { return config }
        guard let mapping = root.mapping else { throw ConfigError(description: "\(source): expected a map of settings") }
        for (keyNode, valueNode) in mapping {
            let name = keyNode.string ?? ""
            guard let setting = setting(key: name) else { throw ConfigError(description: "\(source): unknown key '\(name)'") }
            if valueNode.isNull { continue }
            do {
                config.values[setting.key] = try setting.value(yaml: valueNode)
            } catch let problem as SettingProblem {
                throw ConfigError(description: "\(source): \(setting.key): \(problem.reason)")
            }
        }
        return config
    }

    /// Applies the RELAY_* variables that are set.
    mutating func applyEnvironment(_ environment: [String: String]) throws {
        for setting in Self.settings {
            guard let text = environment[setting.env] else { continue }
            do {
                values[setting.key] = try setting.value(text: text)
            } catch let problem as SettingProblem {
                throw ConfigError(description: "\(setting.env) (\(setting.key)): \(problem.reason)")
            }
        }
    }

    /// Applies `--<flag> text`.
    mutating func apply(flag: String, text: String) throws {
        guard let setting = Self.settings.first(where: { $0.flag == flag }) else {
            throw ConfigError(description: "--\(flag): no such setting")
        }
        do {
            values[setting.key] = try setting.value(text: text)
        } catch let problem as SettingProblem {
            throw ConfigError(description: "--\(flag) (\(setting.key)): \(problem.reason)")
        }
    }

    /// The checks that involve more than one setting (each value was checked when it was read).
    func validate() throws {
        if !self.statusToken.isEmpty && environments.flatMap(\.secretKeys).contains(self.statusToken) {
            throw ConfigError(description: "statusToken: must differ from every secret key")
        }
        if self.workers > 1, try listenAddress().port == 0 {
            throw ConfigError(description: "listen: workers share one port, so it cannot be 0")
        }
        if self.tlsCertFile.isEmpty != self.tlsKeyFile.isEmpty {
            throw ConfigError(description: "tlsCertFile and tlsKeyFile: set both (HTTPS) or neither (plain HTTP)")
        }
        if Double(self.httpTimeoutSeconds) <= self.pingIntervalSeconds {
            throw ConfigError(description: "httpTimeoutSeconds: must be above pingIntervalSeconds, or idle streams are cut")
        }
    }

    // MARK: Derived values

    func listenAddress() throws -> (host: String, port: UInt16) {
        do {
            return try RelaySettings.hostAndPort(self.listen)
        } catch let problem as SettingProblem {
            throw ConfigError(description: "listen: \(problem.reason)")
        }
    }

    /// nil: embedded redis-server.
    func redisTarget() throws -> RedisTarget? {
        if self.redisURL.isEmpty { return nil }
        do {
            return try RedisURL.target(self.redisURL)
        } catch {
            throw ConfigError(description: "redisUrl: \(error)")
        }
    }

    /// Every setting for `relay serve --help`: key, variable and flag, what it does, what it
    /// allows and its default. Wrapped at 80 columns here, so that the help keeps its indents.
    static var helpText: String {
        var lines = wrap("Settings are read from the config file (--config), then RELAY_* environment variables, "
                         + "then flags; later wins. A bad value stops the relay with exit status 2. Every setting:", indent: "")
        for setting in settings {
            lines.append("")
            lines.append("  \(setting.key)  \(setting.env)" + (setting.flag.map { "  --\($0)" } ?? ""))
            let allowed = setting.allowed.isEmpty ? "" : " Allowed: \(setting.allowed)."
            lines += wrap("\(setting.help)\(allowed) Default: \(setting.shownDefault).", indent: "      ")
        }
        return lines.joined(separator: "\n")
    }

    /// `text` in lines of at most 80 characters, each starting with `indent`.
    static func wrap(_ text: String, indent: String, width: Int = 80) -> [String] {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count && line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        lines.append(line)
        return lines
    }

    /// The help of a flag: its setting's help, and what it overrides.
    static func flagHelp(_ flag: String) -> String {
        guard let setting = settings.first(where: { $0.flag == flag }) else { return "" }
        return "\(setting.help) Overrides \(setting.env) and the file's \(setting.key)."
    }
}

extension RelayConfig {
    /// Descriptors kept back from client connections: Redis, the log, the embedded server's
    /// pipes, and room to answer a refused connection with a 503.
    static let reservedDescriptors = 64

    /// The HTTP server's limits. The automatic connection cap stays below the open-file limit,
    /// so that the relay can still answer over-the-cap clients instead of failing accept().
    /// An explicit cap is taken as given (above the open-file limit, accept() fails instead,
    /// and the server backs off).
    func httpLimits(openFileLimit: Int) -> HTTPServerLimits {
        var limits = HTTPServerLimits()
        limits.headTimeoutSeconds = self.headTimeoutSeconds
        limits.bodyTimeoutSeconds = self.bodyTimeoutSeconds
        limits.keepAliveTimeoutSeconds = self.keepAliveTimeoutSeconds
        limits.writeTimeoutSeconds = Double(self.httpTimeoutSeconds)
        let automatic = max(16, openFileLimit - Self.reservedDescriptors)
        limits.maxConnections = self.maxConnections > 0 ? self.maxConnections : automatic
        limits.maxBufferedBodyBytes = self.maxBufferedBodyBytes
        limits.http2MaxConcurrentStreams = self.http2MaxStreams
        return limits
    }
}
