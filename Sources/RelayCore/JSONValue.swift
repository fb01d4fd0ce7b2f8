// JSONValue.swift — the in-memory JSON tree used by request validation and tokens.
//
// Numbers keep their literal text so nothing is lost to floating point; objects keep
// their members in order (duplicate keys are kept, lookup returns the last one).
// API: JSONValue, JSONMember, subscript(key:), stringValue, isNull, boolValue,
// arrayValue, objectValue, int64Value, doubleValue.

public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number literal's exact text, e.g. "1.50e3".
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicate keys are kept (lookup: last wins).
    case object([JSONMember])
}

public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// The value of the last member named `key` when this is an object; nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        for member in members.reversed() where member.key == key {
            return member.value
        }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [JSONMember]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The number as an Int64 when it is integral and in range ("3", "-7", "1e3", "2.0"); nil otherwise.
    public var int64Value: Int64? {
        guard case .number(let text) = self else { return nil }
        if let v = Int64(text) { return v }
        guard let d = Double(text), d.isFinite, d.rounded(.towardZero) == d,
              d >= -9.2e18, d <= 9.2e18 else { return nil }
        return Int64(d)
    }

    /// The number as a Double (nil for non-numbers).
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }
}
