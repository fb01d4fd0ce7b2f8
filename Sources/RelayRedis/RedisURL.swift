// RedisURL: what a Redis URL names.
//   redis://HOST[:PORT][/0]                       one instance (port 6379 by default)
//   unix:/PATH (also unix:///PATH)                one instance on a unix socket
//   redis-cluster://HOST:PORT[,HOST:PORT...][/0]  a Redis Cluster, given by seed nodes (any
//                                                 reachable one is enough; the rest is learnt)
// A host may be an IPv6 literal in brackets: [::1]:7000.
import RelayIO

public struct RedisURLError: Error, CustomStringConvertible {
    public let description: String
}

/// Where the relay's data lives: one Redis, or a cluster known by its seed nodes.
public enum RedisTarget: Equatable, Sendable, CustomStringConvertible {
    case single(RedisEndpoint)
    case cluster(seeds: [RedisEndpoint])

    public var description: String {
        switch self {
        case .single(let endpoint): return endpoint.description
        case .cluster(let seeds): return "cluster(" + seeds.map(\.description).joined(separator: ",") + ")"
        }
    }
}

public enum RedisURL {
    static let clusterScheme = "redis-cluster://"

    /// Any of the three forms.
    public static func target(_ url: String) throws -> RedisTarget {
        guard url.hasPrefix(clusterScheme) else { return .single(try parse(url)) }
        let list = try stripDatabase(String(url.dropFirst(clusterScheme.count)))
        guard !list.isEmpty else { throw RedisURLError(description: "redis-cluster:// needs at least one HOST:PORT") }
        var seeds: [RedisEndpoint] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let text = item.trimmingSpaces
            guard !text.isEmpty else { throw RedisURLError(description: "empty seed node in '\(url)'") }
            let seed = try hostPort(text, url: url)
            if !seeds.contains(seed) { seeds.append(seed) }
        }
        return .cluster(seeds: seeds)
    }

    /// A single instance (redis:// or unix:); a cluster URL is an error here.
    public static func parse(_ url: String) throws -> RedisEndpoint {
        if url.hasPrefix("unix:") {
            var path = String(url.dropFirst("unix:".count))
            while path.hasPrefix("//") { path.removeFirst() }
            guard !path.isEmpty else { throw RedisURLError(description: "unix socket path is empty") }
            return .unix(path: path)
        }
        if url.hasPrefix(clusterScheme) {
            throw RedisURLError(description: "a cluster URL names several nodes; expected redis://HOST:PORT or unix:/PATH here")
        }
        guard url.hasPrefix("redis://") else {
            throw RedisURLError(description: "expected redis://HOST:PORT, redis-cluster://HOST:PORT[,HOST:PORT...] or unix:/PATH, got '\(url)'")
        }
        return try hostPort(try stripDatabase(String(url.dropFirst("redis://".count))), url: url)
    }

    /// Drops a trailing /0 (the only database a relay, and a cluster, uses).
    private static func stripDatabase(_ rest: String) throws -> String {
        guard let slash = rest.firstIndex(of: "/") else { return rest }
        let db = rest[rest.index(after: slash)...]
        guard db.isEmpty || db == "0" else { throw RedisURLError(description: "only database 0 is supported") }
        return String(rest[..<slash])
    }

    /// HOST[:PORT] or [IPV6][:PORT].
    private static func hostPort(_ text: String, url: String) throws -> RedisEndpoint {
        guard !text.contains("@") else { throw RedisURLError(description: "passwords are not supported yet") }
        let host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw RedisURLError(description: "bad host or port in '\(url)'") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisURLError(description: "bad host or port in '\(url)'") }
                portText = after.dropFirst()
            }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw RedisURLError(description: "bad host or port in '\(url)'") }
            host = parts[0]
            portText = parts.count > 1 ? parts[1] : nil
        }
        let port = portText.map { Int($0) } ?? 6379
        guard let port, (1...65535).contains(port), !host.isEmpty else {
            throw RedisURLError(description: "bad host or port in '\(url)'")
        }
        return .tcp(host: String(host), port: port)
    }
}

private extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
