// RedisURL: redis://HOST[:PORT][/0] or unix:/PATH (also unix:///PATH) to an endpoint.
import RelayIO

public struct RedisURLError: Error, CustomStringConvertible {
    public let description: String
}

public enum RedisURL {
    public static func parse(_ url: String) throws -> RedisEndpoint {
        if url.hasPrefix("unix:") {
            var path = String(url.dropFirst("unix:".count))
            while path.hasPrefix("//") { path.removeFirst() }
            guard !path.isEmpty else { throw RedisURLError(description: "unix socket path is empty") }
            return .unix(path: path)
        }
        guard url.hasPrefix("redis://") else {
            throw RedisURLError(description: "expected redis://HOST:PORT or unix:/PATH, got '\(url)'")
        }
        var rest = String(url.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard db.isEmpty || db == "0" else { throw RedisURLError(description: "only database 0 is supported") }
            rest = String(rest[..<slash])
        }
        guard !rest.contains("@") else { throw RedisURLError(description: "passwords are not supported yet") }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let host = parts.first.map(String.init) ?? ""
        let port = parts.count > 1 ? Int(parts[1]) : 6379
        guard let port, (1...65535).contains(port), !host.isEmpty, parts.count <= 2 else {
            throw RedisURLError(description: "bad host or port in '\(url)'")
        }
        return .tcp(host: host, port: port)
    }
}
