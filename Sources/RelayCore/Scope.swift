// Scope.swift — the scope grammar of public tokens and how one scope matches a request.
//
// `admin` alone allows everything; otherwise `action:type[:id]` where the id may itself
// contain ':'. Action `*` matches any action, type `all` any type, no id covers every id.

public struct Scope: Sendable, Equatable {
    public let action: String
    public let type: String
    public let id: String?
    public let isAdmin: Bool

    public init(action: String, type: String, id: String? = nil, isAdmin: Bool = false) {
        self.action = action
        self.type = type
        self.id = id
        self.isAdmin = isAdmin
    }

    /// "admin", "action:type" or "action:type:id"; nil when malformed (a part is empty).
    public static func parse(_ s: String) -> Scope? {
        if s == "admin" { return Scope(action: "admin", type: "all", id: nil, isAdmin: true) }
        // Split on the byte ':': a Character split would keep ":" plus a combining mark together.
        let parts = s.utf8.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            .map { String(Substring($0)) }
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        if parts.count == 2 { return Scope(action: parts[0], type: parts[1]) }
        guard !parts[2].isEmpty else { return nil }
        return Scope(action: parts[0], type: parts[1], id: parts[2])
    }

    /// Whether this scope permits `action` on `type`. `ids` are all spellings of the target;
    /// empty for type-level operations (create, list), which only an id-less scope covers.
    public func allows(action: String, type: String, ids: [String]) -> Bool {
        if isAdmin { return true }
        guard self.action == "*" || self.action == action,
              self.type == "all" || self.type == type else { return false }
        guard let id else { return true }
        // Bytes, not characters: "é" and "e\u{301}" are equal Strings but different sessions.
        return ids.contains { $0.utf8.elementsEqual(id.utf8) }
    }
}
