// SessionStatus.swift — a session's derived status: CLOSED, EXPIRED or ACTIVE.

public enum SessionStatus: String, Sendable, CaseIterable {
    case active = "ACTIVE"
    case closed = "CLOSED"
    case expired = "EXPIRED"
}
