// RelayConfig: every setting of `relay serve`, read from a YAML file, then environment
// variables, then command-line flags (later wins). config/relay.example.yaml documents each key.
import Foundation
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage
import Yams

struct ConfigError: Error, CustomStringConvertible {
    let description: String
}

struct RelayConfig: Codable, Equatable {
    /// HOST:PORT to listen on.
    var listen: String = "127.0.0.1:8080"
    /// redis://host:port, unix:/path/to.sock, or redis-cluster://host:port[,host:port...]
    /// (Redis Cluster seed nodes); empty: start an embedded redis-server.
    var redisURL: String = ""
    /// Replicas that must confirm an append (WAIT) before it is acknowledged; 0: none.
    var redisWaitReplicas: Int = 0
    /// How long that WAIT may take (milliseconds); fewer confirmations by then answer 503.
    var redisWaitTimeoutMs: Int = 1000
    /// Prefix of every Redis key the relay writes.
    var keyPrefix: String = "relay:"
    /// Where the embedded redis-server keeps its socket and data.
    var dataDir: String = "relay-data"
    /// The redis-server binary the embedded mode starts.
    var redisServer: String = "redis-server"
    var environments: [RelayEnvironment] = []
    /// Origins allowed by CORS; "*" for any.
    var allowedOrigins: [String] = ["*"]
    /// trace, debug, info, notice, warning, error, critical
    var logLevel: String = "info"
    /// One log line per request (method, path, status; never query strings or tokens).
    var requestLog: Bool = false
    /// Lifetime of minted public tokens.
    var tokenTTLSeconds: Int = 3600
    /// How long a response may wait for a client that does not read it (seconds).
    var httpTimeoutSeconds: Int = 60
    /// From a request's first byte to the end of its head (seconds).
    var headTimeoutSeconds: Double = 10
    /// From the end of a request's head to the end of its body (seconds).
    var bodyTimeoutSeconds: Double = 30
    /// How long an idle keep-alive (or new) connection may wait for its next request (seconds).
    var keepAliveTimeoutSeconds: Double = 15
    /// Open connections per process; 0: the open-file limit less a reserve for Redis and logs.
    var maxConnections: Int = 0
    /// Request body bytes buffered across all connections before new bodies get a 503.
    var maxBufferedBodyBytes: Int = 64 << 20
    /// Records kept per channel (older ones are trimmed, approximately).
    var maxRecordsPerChannel: Int = 10_000
    /// How long an X-Part-Id is remembered.
    var dedupWindowSeconds: Int = 86_400
    /// How long a closed or expired session's data is kept.
    var retentionSeconds: Int = 604_800
    /// Unsent SSE output per connection before the client is disconnected.
    var maxUnsentBytes: Int = 4 << 20
    /// Seconds between ": ping" comments on SSE streams.
    var pingIntervalSeconds: Double = 15
    /// Sent once at the start of every stream as `retry:` (milliseconds); 0: not sent.
    var sseRetryMilliseconds: Int = 1000
    /// Relay processes sharing the listen port (SO_REUSEPORT), restarted if they die.
    var workers: Int = 1
    /// On SIGTERM/SIGINT: how long to wait for in-flight requests before exiting.
    var drainTimeoutSeconds: Double = 10
    /// On SIGTERM/SIGINT: the least time the process stays up answering /readyz with 503 on
    /// open connections, so balancers see the drain.
    var drainGraceSeconds: Double = 1
    /// This node's name in the X-Relay-Node response header; empty: HOST:PORT/PID.
    var nodeName: String = ""
    /// Seconds between steps of the index sweeper (drops index entries of expired sessions); 0: off.
    var sweepIntervalSeconds: Double = 2
    /// A credential for the status data (/status.json, /status/stream) besides the secret keys;
    /// empty: secret keys only. Public tokens never open it.
    var statusToken: String = ""

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, redisURL = "redisUrl", redisWaitReplicas, redisWaitTimeoutMs, keyPrefix, dataDir, redisServer, environments, allowedOrigins
        case logLevel, requestLog, tokenTTLSeconds, httpTimeoutSeconds, headTimeoutSeconds, bodyTimeoutSeconds
        case keepAliveTimeoutSeconds, maxConnections, maxBufferedBodyBytes
        case maxRecordsPerChannel, dedupWindowSeconds, retentionSeconds, maxUnsentBytes, pingIntervalSeconds, sseRetryMilliseconds
        case workers, drainTimeoutSeconds, drainGraceSeconds, nodeName
        case sweepIntervalSeconds, statusToken
    }

    init() {}

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RelayConfig()
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? d.listen
        redisURL = try c.decodeIfPresent(String.self, forKey: .redisURL) ?? d.redisURL
        redisWaitReplicas = try c.decodeIfPresent(Int.self, forKey: .redisWaitReplicas) ?? d.redisWaitReplicas
        redisWaitTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .redisWaitTimeoutMs) ?? d.redisWaitTimeoutMs
        keyPrefix = try c.decodeIfPresent(String.self, forKey: .keyPrefix) ?? d.keyPrefix
        dataDir = try c.decodeIfPresent(String.self, forKey: .dataDir) ?? d.dataDir
        redisServer = try c.decodeIfPresent(String.self, forKey: .redisServer) ?? d.redisServer
        environments = try c.decodeIfPresent([RelayEnvironment].self, forKey: .environments) ?? d.environments
        allowedOrigins = try c.decodeIfPresent([String].self, forKey: .allowedOrigins) ?? d.allowedOrigins
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        requestLog = try c.decodeIfPresent(Bool.self, forKey: .requestLog) ?? d.requestLog
        tokenTTLSeconds = try c.decodeIfPresent(Int.self, forKey: .tokenTTLSeconds) ?? d.tokenTTLSeconds
        httpTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .httpTimeoutSeconds) ?? d.httpTimeoutSeconds
        headTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .headTimeoutSeconds) ?? d.headTimeoutSeconds
        bodyTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .bodyTimeoutSeconds) ?? d.bodyTimeoutSeconds
        keepAliveTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .keepAliveTimeoutSeconds) ?? d.keepAliveTimeoutSeconds
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
        maxBufferedBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBufferedBodyBytes) ?? d.maxBufferedBodyBytes
        maxRecordsPerChannel = try c.decodeIfPresent(Int.self, forKey: .maxRecordsPerChannel) ?? d.maxRecordsPerChannel
        dedupWindowSeconds = try c.decodeIfPresent(Int.self, forKey: .dedupWindowSeconds) ?? d.dedupWindowSeconds
        retentionSeconds = try c.decodeIfPresent(Int.self, forKey: .retentionSeconds) ?? d.retentionSeconds
        maxUnsentBytes = try c.decodeIfPresent(Int.self, forKey: .maxUnsentBytes) ?? d.maxUnsentBytes
        pingIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .pingIntervalSeconds) ?? d.pingIntervalSeconds
        sseRetryMilliseconds = try c.decodeIfPresent(Int.self, forKey: .sseRetryMilliseconds) ?? d.sseRetryMilliseconds
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? d.workers
        drainTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .drainTimeoutSeconds) ?? d.drainTimeoutSeconds
        drainGraceSeconds = try c.decodeIfPresent(Double.self, forKey: .drainGraceSeconds) ?? d.drainGraceSeconds
        nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName) ?? d.nodeName
        sweepIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .sweepIntervalSeconds) ?? d.sweepIntervalSeconds
        statusToken = try c.decodeIfPresent(String.self, forKey: .statusToken) ?? d.statusToken
    }

    /// Reads the YAML file; unknown keys are errors (a typo should not pass silently).
    static func load(file: String) throws -> RelayConfig {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError(description: "cannot read config file \(file)")
        }
        if let node = try? Yams.compose(yaml: text), let mapping = node.mapping {
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            for key in mapping.keys {
                if let name = key.string, !known.contains(name) {
                    throw ConfigError(description: "\(file): unknown key '\(name)'")
                }
            }
        }
        do {
            return try YAMLDecoder().decode(RelayConfig.self, from: text)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigError(description: "\(file): bad value for '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw ConfigError(description: "\(file): missing key '\(path)'")
        } catch {
            throw ConfigError(description: "\(file): \(error)")
        }
    }

    /// Applies RELAY_* environment variables.
    mutating func applyEnvironment(_ env: [String: String]) throws {
        if let v = env["RELAY_LISTEN"] { listen = v }
        if let v = env["RELAY_REDIS_URL"] { redisURL = v }
        if let v = env["RELAY_KEY_PREFIX"] { keyPrefix = v }
        if let v = env["RELAY_DATA_DIR"] { dataDir = v }
        if let v = env["RELAY_REDIS_SERVER"] { redisServer = v }
        if let v = env["RELAY_LOG_LEVEL"] { logLevel = v }
        if let v = env["RELAY_REQUEST_LOG"] { requestLog = ["1", "true", "yes"].contains(v.lowercased()) }
        if let v = env["RELAY_ALLOWED_ORIGINS"] {
            allowedOrigins = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        try Self.number(env, "RELAY_REDIS_WAIT_REPLICAS", &redisWaitReplicas)
        try Self.number(env, "RELAY_REDIS_WAIT_TIMEOUT_MS", &redisWaitTimeoutMs)
        try Self.number(env, "RELAY_MAX_RECORDS_PER_CHANNEL", &maxRecordsPerChannel)
        try Self.number(env, "RELAY_DEDUP_WINDOW_SECONDS", &dedupWindowSeconds)
        try Self.number(env, "RELAY_RETENTION_SECONDS", &retentionSeconds)
        try Self.number(env, "RELAY_MAX_UNSENT_BYTES", &maxUnsentBytes)
        try Self.number(env, "RELAY_WORKERS", &workers)
        if let v = env["RELAY_NODE_NAME"] { nodeName = v }
        if let v = env["RELAY_STATUS_TOKEN"] { statusToken = v }
        try Self.number(env, "RELAY_DRAIN_GRACE_SECONDS", &drainGraceSeconds)
        try Self.number(env, "RELAY_DRAIN_TIMEOUT_SECONDS", &drainTimeoutSeconds)
        try Self.number(env, "RELAY_PING_INTERVAL_SECONDS", &pingIntervalSeconds)
        try Self.number(env, "RELAY_SSE_RETRY_MS", &sseRetryMilliseconds)
        try Self.number(env, "RELAY_HTTP_TIMEOUT_SECONDS", &httpTimeoutSeconds)
        try Self.number(env, "RELAY_HEAD_TIMEOUT_SECONDS", &headTimeoutSeconds)
        try Self.number(env, "RELAY_BODY_TIMEOUT_SECONDS", &bodyTimeoutSeconds)
        try Self.number(env, "RELAY_KEEPALIVE_TIMEOUT_SECONDS", &keepAliveTimeoutSeconds)
        try Self.number(env, "RELAY_MAX_CONNECTIONS", &maxConnections)
        try Self.number(env, "RELAY_MAX_BUFFERED_BODY_BYTES", &maxBufferedBodyBytes)
        try Self.number(env, "RELAY_SWEEP_INTERVAL_SECONDS", &sweepIntervalSeconds)
        if let v = env["RELAY_ENVIRONMENTS"] {
            do {
                environments = try JSONDecoder().decode([RelayEnvironment].self, from: Data(v.utf8))
            } catch {
                throw ConfigError(description: "RELAY_ENVIRONMENTS: expected a JSON array like [{\"id\":\"env_dev\",\"slug\":\"dev\",\"secretKeys\":[\"tr_dev_abc\"]}] (\(error.localizedDescription))")
            }
        }
    }

    /// Sets `value` from the variable `name` when it is set; a value that is not a number of
    /// the setting's kind is an error naming the variable.
    private static func number<T: LosslessStringConvertible>(_ env: [String: String], _ name: String, _ value: inout T) throws {
        guard let text = env[name] else { return }
        guard let parsed = T(text) else {
            throw ConfigError(description: "\(name): not \(T.self == Int.self ? "an integer" : "a number"): '\(text)'")
        }
        value = parsed
    }

    /// Checks every value; the message names the key.
    func validate() throws {
        _ = try listenAddress()
        _ = try redisTarget()
        if !(0...16).contains(redisWaitReplicas) { throw ConfigError(description: "redisWaitReplicas: must be 0 to 16") }
        // WAIT with timeout 0 blocks until enough replicas answer, which could be forever.
        if !(1...60_000).contains(redisWaitTimeoutMs) { throw ConfigError(description: "redisWaitTimeoutMs: must be 1 to 60000") }
        if keyPrefix.isEmpty { throw ConfigError(description: "keyPrefix: must not be empty") }
        var ids = Set<String>()
        for (i, env) in environments.enumerated() {
            if env.id.isEmpty { throw ConfigError(description: "environments[\(i)].id: must not be empty") }
            if env.secretKeys.isEmpty || env.secretKeys.contains(where: \.isEmpty) {
                throw ConfigError(description: "environments[\(i)].secretKeys: needs at least one non-empty key")
            }
            if !ids.insert(env.id).inserted { throw ConfigError(description: "environments[\(i)].id: duplicate id \(env.id)") }
        }
        let keys = environments.flatMap(\.secretKeys)
        if Set(keys).count != keys.count { throw ConfigError(description: "environments: a secret key is used twice") }
        if !statusToken.isEmpty {
            if statusToken.count < 16 { throw ConfigError(description: "statusToken: at least 16 characters (or empty: secret keys only)") }
            if statusToken.contains(where: { $0 == " " || $0 == "\t" || $0.isNewline }) {
                throw ConfigError(description: "statusToken: must not contain spaces")
            }
            if keys.contains(statusToken) { throw ConfigError(description: "statusToken: must differ from every secret key") }
        }
        if !(1...64).contains(workers) { throw ConfigError(description: "workers: must be 1 to 64") }
        if !(0...60).contains(drainGraceSeconds) { throw ConfigError(description: "drainGraceSeconds: must be 0 to 60") }
        if !(0...3600).contains(drainTimeoutSeconds) { throw ConfigError(description: "drainTimeoutSeconds: must be 0 to 3600") }
        if workers > 1, (try? listenAddress().port) == 0 {
            throw ConfigError(description: "listen: workers share one port, so it cannot be 0")
        }
        if maxRecordsPerChannel < 1 { throw ConfigError(description: "maxRecordsPerChannel: must be at least 1") }
        if dedupWindowSeconds < 1 { throw ConfigError(description: "dedupWindowSeconds: must be at least 1") }
        if retentionSeconds < 1 { throw ConfigError(description: "retentionSeconds: must be at least 1") }
        if maxUnsentBytes < 1024 { throw ConfigError(description: "maxUnsentBytes: must be at least 1024") }
        if !(0.05...3600).contains(pingIntervalSeconds) { throw ConfigError(description: "pingIntervalSeconds: must be 0.05 to 3600") }
        if sweepIntervalSeconds != 0 && !(0.05...3600).contains(sweepIntervalSeconds) {
            throw ConfigError(description: "sweepIntervalSeconds: must be 0 (off) or 0.05 to 3600")
        }
        if Double(httpTimeoutSeconds) <= pingIntervalSeconds {
            throw ConfigError(description: "httpTimeoutSeconds: must be above pingIntervalSeconds, or idle streams are cut")
        }
        if nodeName.utf8.count > 200 || nodeName.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) {
            throw ConfigError(description: "nodeName: at most 200 printable characters, no spaces or control characters")
        }
        if !(0...600_000).contains(sseRetryMilliseconds) { throw ConfigError(description: "sseRetryMilliseconds: must be 0 to 600000") }
        if !(0.1...600).contains(headTimeoutSeconds) { throw ConfigError(description: "headTimeoutSeconds: must be 0.1 to 600") }
        if !(0.1...3600).contains(bodyTimeoutSeconds) { throw ConfigError(description: "bodyTimeoutSeconds: must be 0.1 to 3600") }
        if !(0.1...3600).contains(keepAliveTimeoutSeconds) {
            throw ConfigError(description: "keepAliveTimeoutSeconds: must be 0.1 to 3600")
        }
        if maxConnections < 0 { throw ConfigError(description: "maxConnections: must be 0 (automatic) or more") }
        if maxBufferedBodyBytes < 1 << 20 {
            throw ConfigError(description: "maxBufferedBodyBytes: must be at least 1048576 (one record)")
        }
        if !(60...86400 * 30).contains(tokenTTLSeconds) { throw ConfigError(description: "tokenTTLSeconds: must be 60 to 2592000") }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            throw ConfigError(description: "logLevel: unknown level \(logLevel)")
        }
    }

    func listenAddress() throws -> (host: String, port: UInt16) {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw ConfigError(description: "listen: expected HOST:PORT, got '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// nil: embedded redis-server.
    func redisTarget() throws -> RedisTarget? {
        if redisURL.isEmpty { return nil }
        do {
            return try RedisURL.target(redisURL)
        } catch {
            throw ConfigError(description: "redisUrl: \(error)")
        }
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
        limits.headTimeoutSeconds = headTimeoutSeconds
        limits.bodyTimeoutSeconds = bodyTimeoutSeconds
        limits.keepAliveTimeoutSeconds = keepAliveTimeoutSeconds
        limits.writeTimeoutSeconds = Double(httpTimeoutSeconds)
        let automatic = max(16, openFileLimit - Self.reservedDescriptors)
        limits.maxConnections = maxConnections > 0 ? maxConnections : automatic
        limits.maxBufferedBodyBytes = maxBufferedBodyBytes
        return limits
    }
}
