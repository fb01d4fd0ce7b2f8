// Route: a request path parsed once into a typed route, so handlers switch over values.
// Path segments are percent-decoded (an externalId may contain reserved characters).
import RelayWire

public enum Route: Equatable, Sendable {
    case healthz, readyz, metrics, demo
    case clientScript                      // GET /client.js: the browser client module
    case statusPage                        // GET /status: the live status page
    case statusJSON                        // GET /status.json: every node's heartbeat
    case statusStream                      // GET /status/stream: the same, live over SSE
    case sessions                          // GET list, POST create
    case session(String)                   // GET retrieve, PATCH update
    case closeSession(String)              // POST
    case completeRun(String)               // POST
    case subscribe(String, ChannelIO)      // GET (SSE)
    case append(String, ChannelIO)         // POST
    case records(String, ChannelIO)        // GET (drain)
    case control(String)                   // POST, .out only
    case s2Records(String)                 // S2 records API: POST append (unary or session), GET read
    case s2Tail(String)                    // S2 records API: GET the stream's tail
    case notServed(String)                 // a Trigger.dev platform route the relay leaves out (501)

    /// The methods the route answers; anything else is a 405 with this list in `Allow`.
    public var allowedMethods: [String] {
        switch self {
        case .healthz, .readyz, .metrics, .demo, .records, .clientScript, .statusPage, .statusJSON: return ["GET", "HEAD"]
        case .statusStream: return ["GET"]
        case .subscribe: return ["GET", "HEAD", "PUT"]   // HEAD: the channel's last id; PUT: S2 credentials
        case .sessions: return ["GET", "POST"]
        case .session: return ["GET", "PATCH"]
        case .closeSession, .completeRun, .append, .control: return ["POST"]
        case .s2Records: return ["GET", "POST"]
        case .s2Tail: return ["GET"]
        case .notServed: return ["GET", "POST", "PUT"]
        }
    }

    public static func parse(path: String) -> Route? {
        // Split on the byte '/': a Character split would keep "/" plus a combining mark together.
        let raw = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        guard path.utf8.first == UInt8(ascii: "/") else { return nil }
        var parts: [String] = []
        for segment in raw {
            guard let decoded = percentDecode(Substring(segment)) else { return nil }
            parts.append(decoded)
        }
        if parts.last == "" && parts.count > 1 { parts.removeLast() }  // tolerate a trailing slash
        if let s2 = s2Route(parts) { return s2 }
        switch parts.count {
        case 1:
            switch parts[0] {
            case "healthz": return .healthz
            case "readyz": return .readyz
            case "metrics": return .metrics
            case "demo": return .demo
            case "client.js": return .clientScript
            case "status": return .statusPage
            case "status.json": return .statusJSON
            default: return nil
            }
        case 2 where parts[0] == "status" && parts[1] == "stream":
            return .statusStream
        case 3 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "sessions":
            return .sessions
        case 4 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "sessions" && !parts[3].isEmpty:
            return .session(parts[3])
        case 5 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "sessions" && parts[4] == "close" && !parts[3].isEmpty:
            return .closeSession(parts[3])
        case 5 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "sessions" && !parts[3].isEmpty
                    && (parts[4] == "end-and-continue" || parts[4] == "snapshot-url"):
            return .notServed(parts[4])
        case 6 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "runs" && parts[4] == "session-streams" && parts[5] == "wait":
            return .notServed("waitpoints")
        case 5 where parts[0] == "api" && parts[1] == "v1" && parts[2] == "runs" && parts[4] == "complete" && !parts[3].isEmpty:
            return .completeRun(parts[3])
        case 5, 6:
            guard parts[0] == "realtime", parts[1] == "v1", parts[2] == "sessions", !parts[3].isEmpty,
                  let io = ChannelIO(rawValue: parts[4]) else { return nil }
            if parts.count == 5 { return .subscribe(parts[3], io) }
            switch parts[5] {
            case "append": return .append(parts[3], io)
            case "records": return .records(parts[3], io)
            case "control" where io == .output: return .control(parts[3])
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The S2 records API, at `/v1/streams/{stream}/records[/tail]` (where S2's clients look on
    /// an origin) and at `/s2/v1/…` (the endpoint the PUT handshake hands out).
    static func s2Route(_ parts: [String]) -> Route? {
        var rest = parts[...]
        if rest.first == "s2" { rest = rest.dropFirst() }
        guard rest.count == 4 || rest.count == 5, rest.first == "v1", rest.dropFirst().first == "streams" else { return nil }
        let stream = rest[rest.startIndex + 2]
        guard !stream.isEmpty, rest[rest.startIndex + 3] == "records" else { return nil }
        if rest.count == 4 { return .s2Records(stream) }
        return rest.last == "tail" ? .s2Tail(stream) : nil
    }

    /// Percent-decodes a path segment ('+' stays '+'); nil for invalid UTF-8.
    static func percentDecode(_ segment: Substring) -> String? {
        // A byte search: `contains("%")` here is Foundation's string search (CFStringFind), a
        // few percent of an appending node's CPU.
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return String(segment) }
        return String(validating: PercentDecoding.decode(segment.utf8, plusIsSpace: false), as: UTF8.self)
    }
}
