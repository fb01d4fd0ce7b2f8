// RelaySettings: the table of every setting of `relay serve`, one entry each: the config-file
// key, the RELAY_* variable, the flag (three have one), the default, the allowed values and a
// line of help. The config file's keys, the environment variables and `relay serve --help`
// are derived from it (RelayConfig); README's settings table and config/relay.example.yaml
// are checked against it (RelayTests/SettingsTableTests). Add a setting here and nowhere else
// in the code; then add it to those two documents.
//
// Checks that involve two settings (httpTimeoutSeconds above pingIntervalSeconds, the status
// token unlike every secret key, several workers on a fixed port) are in RelayConfig.validate.
import Foundation
import RelayCore
import RelayHTTP
import RelayRedis

struct RelaySettings: Sendable {
    let listen = Setting<String>("listen", "RELAY_LISTEN", flag: "listen", default: "127.0.0.1:8080",
        "HOST:PORT to listen on.", problem: { value in
            (try? RelaySettings.hostAndPort(value)) == nil ? "expected HOST:PORT, got '\(value)'" : nil
        })
    let redisURL = Setting<String>("redisUrl", "RELAY_REDIS_URL", flag: "redis", default: "",
        "redis://HOST:PORT or unix:/PATH (one Redis), redis-cluster://HOST:PORT[,HOST:PORT...] (Redis Cluster "
            + "seed nodes); empty: start an embedded redis-server.", problem: { value in
            if value.isEmpty { return nil }
            do { _ = try RedisURL.target(value); return nil } catch { return "\(error)" }
        })
    let redisWaitReplicas = Setting<Int>("redisWaitReplicas", "RELAY_REDIS_WAIT_REPLICAS", default: 0, 0...16,
        "Replicas that must confirm an append (WAIT) before it is acknowledged; 0: none.")
    // WAIT with timeout 0 blocks until enough replicas answer, which could be forever.
    let redisWaitTimeoutMs = Setting<Int>("redisWaitTimeoutMs", "RELAY_REDIS_WAIT_TIMEOUT_MS", default: 1000, 1...60_000,
        "How long that WAIT may take (milliseconds); fewer confirmations by then answer 503.")
    let keyPrefix = Setting<String>("keyPrefix", "RELAY_KEY_PREFIX", default: "relay:", allowed: "not empty",
        "Prefix of every Redis key the relay writes.", problem: { $0.isEmpty ? "must not be empty" : nil })
    let dataDir = Setting<String>("dataDir", "RELAY_DATA_DIR", default: "relay-data",
        "Embedded mode: where redis-server keeps its socket, data and log, and the dev key.")
    let redisServer = Setting<String>("redisServer", "RELAY_REDIS_SERVER", default: "redis-server",
        "Embedded mode: the redis-server binary (looked up on PATH).")
    let environments = Setting<Environments>("environments", "RELAY_ENVIRONMENTS", default: Environments(list: []),
        allowed: "a JSON array in RELAY_ENVIRONMENTS",
        "Environments and their secret keys; embedded mode with none makes a dev one.",
        problem: { RelaySettings.environmentsProblem($0.list) })
    let allowedOrigins = Setting<[String]>("allowedOrigins", "RELAY_ALLOWED_ORIGINS", default: ["*"],
        allowed: "a comma list in RELAY_ALLOWED_ORIGINS", "Origins allowed by CORS; * for any.")
    let logLevel = Setting<String>("logLevel", "RELAY_LOG_LEVEL", default: "info",
        allowed: RelaySettings.logLevels.joined(separator: ", "), "How much to log.", problem: { value in
            RelaySettings.logLevels.contains(value) ? nil : "unknown level '\(value)' (\(RelaySettings.logLevels.joined(separator: ", ")))"
        })
    let requestLog = Setting<Bool>("requestLog", "RELAY_REQUEST_LOG", default: false,
        "One log line per request (method, path, status; never query strings or tokens).")
    let tokenTTLSeconds = Setting<Int>("tokenTTLSeconds", "RELAY_TOKEN_TTL_SECONDS", default: 3600, 60...2_592_000,
        "Lifetime of the public tokens the relay mints (seconds).")
    let httpTimeoutSeconds = Setting<Int>("httpTimeoutSeconds", "RELAY_HTTP_TIMEOUT_SECONDS", default: 60, 1...,
        "How long a response may wait for a client that does not read it (seconds); above pingIntervalSeconds.")
    let headTimeoutSeconds = Setting<Double>("headTimeoutSeconds", "RELAY_HEAD_TIMEOUT_SECONDS", default: 10, 0.1...600,
        "From a request's first byte to the end of its head (seconds).")
    let bodyTimeoutSeconds = Setting<Double>("bodyTimeoutSeconds", "RELAY_BODY_TIMEOUT_SECONDS", default: 30, 0.1...3600,
        "From the end of a request's head to the end of its body (seconds).")
    let keepAliveTimeoutSeconds = Setting<Double>("keepAliveTimeoutSeconds", "RELAY_KEEPALIVE_TIMEOUT_SECONDS",
        default: 15, 0.1...3600, "How long an idle or new connection may wait for its next request (seconds).")
    let maxConnections = Setting<Int>("maxConnections", "RELAY_MAX_CONNECTIONS", default: 0, 0...,
        "Open connections per process; 0: the open-file limit less 64. Over it: 503 and close.")
    let maxBufferedBodyBytes = Setting<Int>("maxBufferedBodyBytes", "RELAY_MAX_BUFFERED_BODY_BYTES", default: 64 << 20, (1 << 20)...,
        "Request body bytes held across all connections before new bodies get a 503.")
    let http2MaxStreams = Setting<Int>("http2MaxStreams", "RELAY_HTTP2_MAX_STREAMS", default: 128, 1...10_000,
        "HTTP/2: streams (SSE streams included) one connection may have open at once.")
    let tlsCertFile = Setting<String>("tlsCertFile", "RELAY_TLS_CERT_FILE", default: "",
        "PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of plain HTTP; with tlsKeyFile.")
    let tlsKeyFile = Setting<String>("tlsKeyFile", "RELAY_TLS_KEY_FILE", default: "",
        "PEM private key of tlsCertFile.")
    let s2Basin = Setting<String>("s2Basin", "RELAY_S2_BASIN", default: "relay-sessions",
        "S2 records API: the basin name handed out (X-S2-Basin) and answered to; 8-48 of a-z, 0-9, '-'.",
        problem: { S2Settings.isValidBasin($0) ? nil : "8-48 characters of a-z, 0-9 and '-', not starting or ending with '-'" })
    let s2Endpoint = Setting<String>("s2Endpoint", "RELAY_S2_ENDPOINT", default: "",
        "S2 records API: the X-S2-Endpoint handed out (e.g. https://relay.example.com/s2/v1); empty: this node as the request reached it.")
    let s2TokenTTLSeconds = Setting<Int>("s2TokenTTLSeconds", "RELAY_S2_TOKEN_TTL_SECONDS", default: 900, 60...86_400,
        "Lifetime of the channel-scoped S2 access tokens the PUT handshake hands out (seconds).")
    let s2FlushIntervalMs = Setting<Int>("s2FlushIntervalMs", "RELAY_S2_FLUSH_INTERVAL_MS", default: 100, 1...10_000,
        "X-S2-Flush-Interval-Ms: how long the Trigger.dev SDK's writer gathers records into one append.")
    let maxRecordsPerChannel = Setting<Int>("maxRecordsPerChannel", "RELAY_MAX_RECORDS_PER_CHANNEL", default: 10_000, 1...,
        "Records kept per channel (older ones are trimmed, approximately).")
    let dedupWindowSeconds = Setting<Int>("dedupWindowSeconds", "RELAY_DEDUP_WINDOW_SECONDS", default: 86_400, 1...,
        "How long an X-Part-Id is remembered (seconds).")
    let retentionSeconds = Setting<Int>("retentionSeconds", "RELAY_RETENTION_SECONDS", default: 604_800, 1...,
        "How long a closed or expired session's data is kept (seconds).")
    let maxUnsentBytes = Setting<Int>("maxUnsentBytes", "RELAY_MAX_UNSENT_BYTES", default: 4 << 20, 1024...,
        "Unsent SSE output per connection before the client is disconnected (bytes).")
    let pingIntervalSeconds = Setting<Double>("pingIntervalSeconds", "RELAY_PING_INTERVAL_SECONDS", default: 15, 0.05...3600,
        "Seconds between \": ping\" comments on SSE streams.")
    let sseRetryMilliseconds = Setting<Int>("sseRetryMilliseconds", "RELAY_SSE_RETRY_MS", default: 1000, 0...600_000,
        "Sent as `retry:` at the start of every stream (milliseconds); 0: not sent.")
    let workers = Setting<Int>("workers", "RELAY_WORKERS", flag: "workers", default: 1, 1...64,
        "Relay processes sharing the listen port (SO_REUSEPORT), each a node, restarted if they die.")
    let drainTimeoutSeconds = Setting<Double>("drainTimeoutSeconds", "RELAY_DRAIN_TIMEOUT_SECONDS", default: 10, 0...3600,
        "On SIGTERM/SIGINT: how long to wait for in-flight requests before exiting (seconds).")
    let drainGraceSeconds = Setting<Double>("drainGraceSeconds", "RELAY_DRAIN_GRACE_SECONDS", default: 1, 0...60,
        "On SIGTERM/SIGINT: the least time a draining node stays up answering /readyz with 503.")
    let nodeName = Setting<String>("nodeName", "RELAY_NODE_NAME", default: "",
        allowed: "at most 200 printable characters, no spaces",
        "This node's name in X-Relay-Node and on the status page; empty: HOST:PORT/PID.", problem: { value in
            value.utf8.count > 200 || value.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F })
                ? "at most 200 printable characters, no spaces or control characters" : nil
        })
    let sweepIntervalSeconds = Setting<Double>("sweepIntervalSeconds", "RELAY_SWEEP_INTERVAL_SECONDS", default: 2,
        allowed: "0 (off) or 0.05 to 3600",
        "Seconds between steps of the index sweeper; 0: off. The outbox walk runs as often, at most each second.",
        problem: { $0 == 0 || (0.05...3600).contains($0) ? nil : "must be 0 (off) or 0.05 to 3600, got \($0.shown)" })
    let statusToken = Setting<String>("statusToken", "RELAY_STATUS_TOKEN", default: "",
        allowed: "empty, or 16+ characters without spaces",
        "A credential for /status.json and /status/stream besides the secret keys; empty: secret keys only.",
        problem: { value in
            if value.isEmpty { return nil }
            if value.count < 16 { return "at least 16 characters (or empty: secret keys only)" }
            if value.contains(where: { $0 == " " || $0 == "\t" || $0.isNewline }) { return "must not contain spaces" }
            return nil
        })

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Splits HOST:PORT (an IPv6 host in brackets); an empty host is 0.0.0.0.
    static func hostAndPort(_ listen: String) throws -> (host: String, port: UInt16) {
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw SettingProblem(reason: "expected HOST:PORT, got '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    static func environmentsProblem(_ environments: [RelayEnvironment]) -> String? {
        var ids = Set<String>()
        for (i, env) in environments.enumerated() {
            if env.id.isEmpty { return "[\(i)].id: must not be empty" }
            if env.secretKeys.isEmpty || env.secretKeys.contains(where: \.isEmpty) {
                return "[\(i)].secretKeys: needs at least one non-empty key"
            }
            if !ids.insert(env.id).inserted { return "[\(i)].id: duplicate id \(env.id)" }
        }
        let keys = environments.flatMap(\.secretKeys)
        return Set(keys).count != keys.count ? "a secret key is used twice" : nil
    }
}
