// SettingsTableTests: the settings table (RelaySettings) against the documents that list the
// settings (README's configuration table, config/relay.example.yaml), and how each source
// (file, environment, flags) is read through it. No processes, no sockets.
import XCTest
@testable import relay

final class SettingsTableTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private func text(_ path: String) throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
    }

    // MARK: The table itself

    func testKeysVariablesAndFlagsAreUniqueAndEveryEntryIsASetting() {
        let settings = RelayConfig.settings
        // Every stored property of the table is a setting (Mirror found them all).
        XCTAssertEqual(settings.count, Mirror(reflecting: RelayConfig.table).children.count)
        XCTAssertEqual(Set(settings.map(\.key)).count, settings.count, "keys are unique")
        XCTAssertEqual(Set(settings.map(\.env)).count, settings.count, "variables are unique")
        for setting in settings {
            XCTAssertTrue(setting.env.hasPrefix("RELAY_"), setting.env)
            XCTAssertFalse(setting.help.isEmpty, setting.key)
            XCTAssertNil(setting.problemWithDefault, "\(setting.key)'s default is allowed")
        }
        XCTAssertEqual(settings.compactMap(\.flag), ["listen", "redis", "workers"])
        XCTAssertNoThrow(try RelayConfig().validate(), "the defaults pass the checks across settings")
    }

    /// Users depend on these: a default changes only on purpose.
    func testDefaultsAreTheDocumentedOnes() {
        let shown = Dictionary(uniqueKeysWithValues: RelayConfig.settings.map { ($0.key, $0.shownDefault) })
        XCTAssertEqual(shown, [
            "listen": "127.0.0.1:8080", "redisUrl": "\"\"", "redisWaitReplicas": "0", "redisWaitTimeoutMs": "1000",
            "keyPrefix": "relay:", "dataDir": "relay-data", "redisServer": "redis-server", "environments": "none",
            "allowedOrigins": "*", "logLevel": "info", "requestLog": "false", "tokenTTLSeconds": "3600",
            "httpTimeoutSeconds": "60", "headTimeoutSeconds": "10", "bodyTimeoutSeconds": "30",
            "keepAliveTimeoutSeconds": "15", "maxConnections": "0", "maxBufferedBodyBytes": "67108864",
            "maxRecordsPerChannel": "10000", "dedupWindowSeconds": "86400", "retentionSeconds": "604800",
            "maxUnsentBytes": "4194304", "pingIntervalSeconds": "15", "sseRetryMilliseconds": "1000", "workers": "1",
            "drainTimeoutSeconds": "10", "drainGraceSeconds": "1", "nodeName": "\"\"", "sweepIntervalSeconds": "2",
            "statusToken": "\"\"", "http2MaxStreams": "128", "tlsCertFile": "\"\"", "tlsKeyFile": "\"\"",
            "s2Basin": "relay-sessions", "s2Endpoint": "\"\"", "s2TokenTTLSeconds": "900", "s2FlushIntervalMs": "100",
        ])
    }

    // MARK: The documents

    /// README's `| key | RELAY_... | default |` table lists exactly the table's settings, each
    /// with its variable.
    func testREADMESettingsTableListsExactlyTheSettings() throws {
        var listed: [String: String] = [:]
        for line in try text("README.md").split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, cells[1].hasPrefix("`RELAY_") else { continue }
            let key = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let variable = cells[1].dropFirst().prefix { $0 != "`" }
            XCTAssertNil(listed[key], "\(key) is listed once")
            listed[key] = String(variable)
        }
        let table = Dictionary(uniqueKeysWithValues: RelayConfig.settings.map { ($0.key, $0.env) })
        XCTAssertEqual(Set(table.keys).subtracting(listed.keys).sorted(), [], "settings missing from README")
        XCTAssertEqual(Set(listed.keys).subtracting(table.keys).sorted(), [], "README rows that are no setting")
        for (key, env) in table where listed[key] != nil {
            XCTAssertEqual(listed[key], env, "README's variable for \(key)")
        }
    }

    /// config/relay.example.yaml sets every key (with its variable in the comment above it),
    /// and loads.
    func testExampleConfigMentionsEveryKeyAndLoads() throws {
        let example = try text("config/relay.example.yaml")
        let lines = example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for setting in RelayConfig.settings {
            guard let at = lines.firstIndex(where: { $0.hasPrefix("\(setting.key):") }) else {
                XCTFail("\(setting.key) is not in the example")
                continue
            }
            var comment = at - 1
            while comment >= 0 && lines[comment].hasPrefix("#") { comment -= 1 }
            XCTAssertTrue(lines[(comment + 1)..<at].contains { $0.contains(setting.env) },
                          "the comment above \(setting.key) names \(setting.env)")
        }
        let config = try RelayConfig.load(yaml: example, source: "relay.example.yaml")
        XCTAssertNoThrow(try config.validate())
        XCTAssertEqual(config.environments.map(\.id), ["env_dev", "env_prod"])
    }

    // MARK: The sources

    func testEachSourceIsRangeCheckedAndTheErrorSaysWhere() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        var config = RelayConfig()
        XCTAssertEqual(message { try config.applyEnvironment(["RELAY_WORKERS": "0"]) },
                       "RELAY_WORKERS (workers): must be 1 to 64, got 0")
        XCTAssertEqual(message { try config.applyEnvironment(["RELAY_PING_INTERVAL_SECONDS": "soon"]) },
                       "RELAY_PING_INTERVAL_SECONDS (pingIntervalSeconds): not a number: 'soon'")
        XCTAssertEqual(message { try config.applyEnvironment(["RELAY_REQUEST_LOG": "maybe"]) },
                       "RELAY_REQUEST_LOG (requestLog): not true or false: 'maybe'")
        XCTAssertEqual(message { try config.apply(flag: "workers", text: "65") }, "--workers (workers): must be 1 to 64, got 65")
        XCTAssertEqual(message { try config.apply(flag: "listen", text: "8080") },
                       "--listen (listen): expected HOST:PORT, got '8080'")
        XCTAssertEqual(message { _ = try RelayConfig.load(yaml: "tokenTTLSeconds: 59\n", source: "f.yaml") },
                       "f.yaml: tokenTTLSeconds: must be 60 to 2592000, got 59")
        XCTAssertEqual(message { _ = try RelayConfig.load(yaml: "sweepIntervalSeconds: 0.01\n", source: "f.yaml") },
                       "f.yaml: sweepIntervalSeconds: must be 0 (off) or 0.05 to 3600, got 0.01")
        XCTAssertEqual(message { _ = try RelayConfig.load(yaml: "workerz: 2\n", source: "f.yaml") }, "f.yaml: unknown key 'workerz'")
        XCTAssertEqual(message { _ = try RelayConfig.load(yaml: "listen: [a]\n", source: "f.yaml") },
                       "f.yaml: listen: expected a single value, got a list or a map")
        XCTAssertTrue(message { try config.applyEnvironment(["RELAY_NODE_NAME": "a\r\nX-Injected: 1"]) }.contains("nodeName"))
        XCTAssertTrue(message { try config.applyEnvironment(["RELAY_REDIS_URL": "http://x"]) }.hasPrefix("RELAY_REDIS_URL (redisUrl): "))
        // Nothing was applied by the refused values.
        XCTAssertEqual(config.workers, 1)
        XCTAssertEqual(config.listen, "127.0.0.1:8080")

        var crossed = RelayConfig()
        try crossed.applyEnvironment(["RELAY_PING_INTERVAL_SECONDS": "60"])
        XCTAssertEqual(message { try crossed.validate() },
                       "httpTimeoutSeconds: must be above pingIntervalSeconds, or idle streams are cut")
    }

    func testLaterSourcesWinAndEveryTypeIsRead() throws {
        var config = try RelayConfig.load(yaml: """
            workers: 2
            listen: "127.0.0.1:9000"
            requestLog: yes
            pingIntervalSeconds: 0.5
            allowedOrigins: ["https://a.example"]
            nodeName:
            environments:
              - {id: env_a, slug: a, secretKeys: [tr_a]}
            """, source: "f.yaml")
        XCTAssertEqual(config.workers, 2)
        XCTAssertTrue(config.requestLog)
        XCTAssertEqual(config.pingIntervalSeconds, 0.5)
        XCTAssertEqual(config.allowedOrigins, ["https://a.example"])
        XCTAssertEqual(config.nodeName, "", "a key without a value keeps the default")
        XCTAssertEqual(config.environments, [.init(id: "env_a", slug: "a", secretKeys: ["tr_a"])])

        try config.applyEnvironment([
            "RELAY_WORKERS": "3", "RELAY_TOKEN_TTL_SECONDS": "7200", "RELAY_ALLOWED_ORIGINS": "https://b.example, https://c.example,",
            "RELAY_ENVIRONMENTS": #"[{"id":"env_b","slug":"b","secretKeys":["tr_b"]}]"#, "RELAY_REQUEST_LOG": "0",
        ])
        XCTAssertEqual(config.workers, 3)
        XCTAssertEqual(config.tokenTTLSeconds, 7200)
        XCTAssertEqual(config.allowedOrigins, ["https://b.example", "https://c.example"])
        XCTAssertEqual(config.environments.map(\.id), ["env_b"])
        XCTAssertFalse(config.requestLog)
        XCTAssertEqual(config.listen, "127.0.0.1:9000", "the file's value stays where the environment says nothing")

        try config.apply(flag: "workers", text: "4")
        try config.apply(flag: "redis", text: "redis://127.0.0.1:6390")
        XCTAssertEqual(config.workers, 4)
        XCTAssertEqual(config.redisURL, "redis://127.0.0.1:6390")
    }

    func testServeReadsItsFlagsThroughTheTable() throws {
        let serve = try Serve.parse(["--workers", "5", "--listen", "0.0.0.0:8081"])
        let config = try serve.settings(environment: ["RELAY_WORKERS": "2", "RELAY_LISTEN": "127.0.0.1:1"])
        XCTAssertEqual(config.workers, 5)
        XCTAssertEqual(config.listen, "0.0.0.0:8081")
        XCTAssertThrowsError(try Serve.parse(["--workers", "0"]).settings(environment: [:])) { error in
            XCTAssertEqual("\(error)", "--workers (workers): must be 1 to 64, got 0")
        }
    }

    func testHelpListsEverySetting() {
        let help = Serve.helpMessage(columns: 80)
        for setting in RelayConfig.settings {
            XCTAssertTrue(help.contains("  \(setting.key)  \(setting.env)"), "\(setting.key) in --help")
            if let flag = setting.flag { XCTAssertTrue(help.contains("--\(flag) <"), "--\(flag) in --help") }
        }
    }
}
