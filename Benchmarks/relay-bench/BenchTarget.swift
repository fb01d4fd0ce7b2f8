// BenchTarget: what the load tester talks to, the relay or nchan (for side-by-side figures),
// and where: one or more nodes on this machine (127.0.0.0/8 only).
import BenchCore
import Foundation

enum TargetKind: String {
    case relay, nchan
}

struct Node {
    var host: String
    var port: UInt16
}

struct BenchTarget {
    var kind: TargetKind
    var nodes: [Node]
    var key: String?
    var channelPrefix: String

    init(kind: TargetKind, urls: [String], key: String?, channelPrefix: String) throws {
        self.kind = kind
        self.key = key
        self.channelPrefix = channelPrefix
        nodes = try urls.map { url in
            guard let parsed = URL(string: url), parsed.scheme == "http", let host = parsed.host else {
                throw BenchError("--url: expected http://HOST:PORT, got \(url)")
            }
            guard isLoopback(host: host) else { throw BenchError("--url: \(host) is not a loopback address; load goes to 127.0.0.0/8 only") }
            return Node(host: host, port: UInt16(parsed.port ?? 80))
        }
        if nodes.isEmpty { throw BenchError("--url: at least one") }
        if kind == .relay && (key ?? "").isEmpty { throw BenchError("--key: a secret key is needed for the relay") }
    }

    func channel(_ index: Int) -> String { "\(channelPrefix)-\(index)" }

    func subscribePath(_ channel: String) -> String {
        kind == .relay ? "/realtime/v1/sessions/\(channel)/out" : "/sub/\(channel)"
    }

    func appendPath(_ channel: String) -> String {
        kind == .relay ? "/realtime/v1/sessions/\(channel)/out/append" : "/pub/\(channel)"
    }

    func drainPath(_ channel: String, limit: Int) -> String {
        "/realtime/v1/sessions/\(channel)/out/records?afterEventId=0&limit=\(limit)"
    }

    /// nchan answers a keep-alive EventSource request with a body that has neither a length
    /// nor chunks, which libevent's client refuses; asking for Connection: close makes it a
    /// close-delimited body that libevent reads.
    var subscribeHeaders: [(String, String)] {
        kind == .nchan ? [("Connection", "close")] : authorization
    }

    var authorization: [(String, String)] {
        guard kind == .relay, let key else { return [] }
        return [("Authorization", "Bearer \(key)")]
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}


