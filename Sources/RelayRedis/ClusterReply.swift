// ClusterReply: what the router does with a reply. A redirection (MOVED, ASK) is followed; a
// "not now" that Redis gave before running the command (TRYAGAIN, CLUSTERDOWN, ...), or a
// command that never left this process (no connection), is retried within the command's
// deadline; everything else, including a connection lost after the command was sent (it may have
// run), completes the command.
import RelayIO

public struct ClusterRedirect: Equatable, Sendable {
    public enum Kind: String, Sendable { case moved, ask }
    public var kind: Kind
    public var slot: Int
    public var endpoint: RedisEndpoint

    /// Parses `MOVED <slot> <host>:<port>` / `ASK <slot> <host>:<port>`. An empty host (`:7001`)
    /// means the host of the node that answered (`replyingHost`).
    public static func parse(_ message: String, replyingHost: String) -> ClusterRedirect? {
        let parts = message.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        let kind: Kind
        switch parts[0] {
        case "MOVED": kind = .moved
        case "ASK": kind = .ask
        default: return nil
        }
        guard let slot = Int(parts[1]), (0..<ClusterSlot.count).contains(slot) else { return nil }
        let address = parts[2]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "?" { host = replyingHost }
        return ClusterRedirect(kind: kind, slot: slot, endpoint: .tcp(host: host, port: port))
    }
}

public enum ClusterReplyAction: Equatable, Sendable {
    /// Hand the reply to the caller.
    case complete
    case redirect(ClusterRedirect)
    /// Not run (or not sent): try again after a short pause, refreshing the map meanwhile.
    case retry
}

public enum ClusterReplyClassifier {
    /// Error codes by which a node refuses a command without running it, for now.
    /// READONLY: a replica (a stale map after a failover) refused a write.
    static let retryCodes: Set<Substring> = ["TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING", "READONLY"]

    public static func action(for reply: RedisReply, replyingHost: String) -> ClusterReplyAction {
        switch reply {
        case .failure(.notConnected), .failure(.notSent):
            return .retry
        case .error(let message):
            let code = message.prefix { $0 != " " }
            if code == "MOVED" || code == "ASK" {
                return ClusterRedirect.parse(message, replyingHost: replyingHost).map { .redirect($0) } ?? .complete
            }
            return retryCodes.contains(code) ? .retry : .complete
        default:
            // Replies, and .connectionLost / .timedOut (sent, maybe run: never twice).
            return .complete
        }
    }
}

extension RedisEndpoint {
    /// The host part (empty for a unix socket).
    var host: String {
        if case .tcp(let host, _) = self { return host }
        return ""
    }
}
