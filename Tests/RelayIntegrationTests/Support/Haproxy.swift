// Haproxy.swift: the repository's config/haproxy.cfg made runnable in a test (its frontend and
// node ports rewritten), and the haproxy binary.

import Foundation

enum Haproxy {
    /// The repository root (three folders above this file).
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// config/haproxy.cfg with the plain frontend on `port` and its server lines pointing at
    /// `nodes` (server lines beyond the nodes given are removed).
    static func config(port: UInt16, nodes: [RelayProcess]) throws -> String {
        var config = try String(contentsOf: repository.appendingPathComponent("config/haproxy.cfg"), encoding: .utf8)
        config = config.replacingOccurrences(of: "bind 127.0.0.1:8000", with: "bind 127.0.0.1:\(port)")
        for index in 0..<3 {
            let line = "server node\(index + 1) 127.0.0.1:808\(index + 1) check"
            config = config.replacingOccurrences(
                of: line, with: index < nodes.count ? "server node\(index + 1) 127.0.0.1:\(nodes[index].port) check" : "")
        }
        return config
    }

    /// The haproxy binary (Debian installs it in /usr/sbin, which may not be on PATH).
    static func executable() throws -> URL {
        if let found = ChildProcess.findExecutable("haproxy") { return found }
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") { return URL(fileURLWithPath: "/usr/sbin/haproxy") }
        throw HarnessError("haproxy not found (Debian: apt-get install -y haproxy; scripts/install-deps does it)")
    }
}
