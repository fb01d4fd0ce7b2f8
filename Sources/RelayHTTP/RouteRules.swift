// RouteRules: what each route asks of a request before its body is read: credentials, where
// they may come from, how large a body it takes, and the shape its errors are answered in.
import RelayCore

public enum BodyLimit {
    public static let session = 32 * 1024
    public static let close = 1024
    public static let record = 1_048_576
    public static let control = 32 * 1024
    /// Routes that take no body still tolerate a small one (some clients send `{}`).
    public static let none = 1024
    /// A unary S2 append: 1 MiB of metered records, in JSON (base64 is 4/3 of that, escapes and
    /// the records' framing add more).
    public static let s2Append = 4 << 20
    /// All the frames of one S2 append session.
    public static let s2Session = 1 << 30
}

extension Route {
    /// Every API route needs a secret key or a public token; health, metrics and the demo page
    /// do not.
    var needsCredentials: Bool {
        switch self {
        case .healthz, .readyz, .metrics, .demo, .clientScript, .statusPage: return false
        // Status data has its own rule (a secret key or the status token), checked by its handler.
        case .statusJSON, .statusStream: return false
        default: return true
        }
    }

    /// Browsers' EventSource cannot send headers, so stream and drain reads may carry their
    /// public token as `?token=`.
    var acceptsQueryToken: Bool {
        switch self {
        case .subscribe, .records: return true
        default: return false
        }
    }

    /// The largest body the route reads; a longer one is refused with 413 before it is read.
    var bodyLimit: Int {
        switch self {
        case .sessions, .session: return BodyLimit.session
        case .closeSession: return BodyLimit.close
        case .append: return BodyLimit.record
        case .s2Records: return BodyLimit.s2Append
        case .control: return BodyLimit.control
        default: return BodyLimit.none
        }
    }

    /// Channel writes answer errors as {"ok": false, "error": ...}.
    var errorShape: RelayServer.ErrorShape {
        switch self {
        case .append, .control: return .append
        case .s2Records, .s2Tail: return .s2
        default: return .plain
        }
    }
}
