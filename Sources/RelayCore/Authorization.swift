// Authorization.swift — who is calling (Principal), what they ask for (Operation) and
// the table of SPEC section 1 deciding whether a public token's scopes allow it.
// Environment scoping (a principal only sees its own environment) is the caller's job.

public enum Principal: Sendable, Equatable {
    case secretKey(RelayEnvironment)
    case publicToken(RelayEnvironment, scopes: [String])

    public var environment: RelayEnvironment {
        switch self {
        case .secretKey(let env), .publicToken(let env, _): return env
        }
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

/// nil when `principal` may perform `operation`, else a 403 naming the needed scope.
/// Secret keys may do everything; public tokens per SPEC section 1.
public func authorize(_ principal: Principal, _ operation: Operation) -> APIError? {
    guard case .publicToken(_, let scopeTexts) = principal else { return nil }
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
