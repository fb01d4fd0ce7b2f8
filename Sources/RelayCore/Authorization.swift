// Authorization.swift — who is calling (Principal), what they ask for (Operation) and
// the table of docs/API.md, Scopes, deciding whether a public token's scopes allow it.
// Environment scoping (a principal only sees its own environment) is the caller's job.

public enum Principal: Sendable, Equatable {
    case secretKey(RelayEnvironment)
    /// `expiresAt`: the token's `exp` (seconds since the epoch).
    case publicToken(RelayEnvironment, scopes: [String], expiresAt: Int64 = .max)

    public var environment: RelayEnvironment {
        switch self {
        case .secretKey(let env), .publicToken(let env, _, _): return env
        }
    }

    /// When the credential stops being valid (seconds since the epoch); nil for secret keys.
    /// Long-lived responses (SSE streams) end then.
    public var expiresAt: Int64? {
        if case .publicToken(_, _, let exp) = self { return exp }
        return nil
    }

    public var isSecretKey: Bool {
        if case .secretKey = self { return true }
        return false
    }
}

/// The spellings a session answers to: its friendly id and its externalId (if any).
/// One token authorizes both.
public struct SessionNames: Sendable, Equatable {
    public var friendlyId: String
    public var externalId: String?

    public init(friendlyId: String, externalId: String?) {
        self.friendlyId = friendlyId
        self.externalId = externalId
    }

    public var all: [String] {
        guard let externalId else { return [friendlyId] }
        return [friendlyId, externalId]
    }

    /// The key a session token is minted for: the externalId if set, else the friendly id.
    public var tokenKey: String { externalId ?? friendlyId }
}

public enum Operation: Sendable, Equatable {
    case createSession(taskIdentifier: String)
    case retrieveSession(SessionNames)
    case readChannel(SessionNames)
    case listSessions
    case appendIn(SessionNames)
    case appendOut(SessionNames)
    case control(SessionNames)
    case updateSession(SessionNames)
    case closeSession(SessionNames)
    case completeRun
}

/// nil when `principal` may perform `operation`, else a 403 naming the needed scope (with the
/// session's token key; answers to callers go through `authorize(_:_:path:session:)`).
/// Secret keys may do everything; public tokens per docs/API.md, Scopes.
public func authorize(_ principal: Principal, _ operation: Operation) -> APIError? {
    guard case .publicToken(_, let scopeTexts, _) = principal else { return nil }
    let scopes = scopeTexts.compactMap(Scope.parse)
    func any(_ action: String, _ type: String, _ ids: [String]) -> Bool {
        scopes.contains { $0.allows(action: action, type: type, ids: ids) }
    }
    func missing(_ needed: String) -> APIError {
        .forbidden("Public access token is missing the required scope: \(needed)")
    }
    switch operation {
    case .createSession(let task):
        return any("write", "sessions", []) || any("write", "tasks", [task])
            ? nil : missing("write:sessions or write:tasks:\(task)")
    case .retrieveSession(let names), .readChannel(let names):
        return any("read", "sessions", names.all) ? nil : missing("read:sessions:\(names.tokenKey)")
    case .listSessions:
        return any("read", "sessions", []) ? nil : missing("read:sessions")
    case .appendIn(let names):
        return any("write", "sessions", names.all) ? nil : missing("write:sessions:\(names.tokenKey)")
    case .updateSession(let names), .closeSession(let names):
        return any("admin", "sessions", names.all) ? nil : missing("admin:sessions:\(names.tokenKey)")
    case .appendOut:
        return .forbidden("Public access tokens cannot append to the .out channel; use a secret key")
    case .control:
        return .forbidden("Public access tokens cannot send control records; use a secret key")
    case .completeRun:
        return .forbidden("Public access tokens cannot complete runs; use a secret key")
    }
}

/// The check for an operation on the session a caller named in a path. `session` is the
/// session's names when it exists in the caller's environment, nil when it does not. A caller
/// that may not perform the operation gets the same 403 either way, naming only `path`: the
/// answer tells neither whether the session exists nor its other spelling.
public func authorize(_ principal: Principal, _ operation: (SessionNames) -> Operation,
                      path: String, session: SessionNames?) -> APIError? {
    let asked = SessionNames(path: path)
    guard authorize(principal, operation(session ?? asked)) != nil else { return nil }
    // Denied for every spelling, so also for the one asked for (scopes only ever add).
    return authorize(principal, operation(asked)) ?? .forbidden("Public access token is missing the required scope")
}

extension SessionNames {
    /// The one spelling a path gives: a friendly id (`session_...`) or an externalId.
    public init(path name: String) {
        self = FriendlyID.isSession(name) ? SessionNames(friendlyId: name, externalId: nil)
                                          : SessionNames(friendlyId: "", externalId: name)
    }
}

/// Which sessions a principal may read (retrieve, read channels), as far as its credentials
/// alone tell: every session, or those named by one of a set of spellings. Used where the
/// session is only known inside Redis (create with an existing externalId).
public enum ReadableSessions: Sendable, Equatable {
    case all
    case named(Set<String>)

    public init(_ principal: Principal) {
        guard case .publicToken(_, let texts, _) = principal else {
            self = .all
            return
        }
        var names = Set<String>()
        for scope in texts.compactMap(Scope.parse) {
            if scope.allows(action: "read", type: "sessions", ids: []) {
                self = .all
                return
            }
            if let id = scope.id, scope.allows(action: "read", type: "sessions", ids: [id]) { names.insert(id) }
        }
        self = .named(names)
    }

    /// The same answer as `authorize(principal, .retrieveSession(names)) == nil`.
    public func covers(_ names: SessionNames) -> Bool {
        switch self {
        case .all: return true
        // Bytes, not characters: canonically equal names are still different sessions.
        case .named(let set): return names.all.contains { name in set.contains { $0.utf8.elementsEqual(name.utf8) } }
        }
    }
}
