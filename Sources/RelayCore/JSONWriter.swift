// JSONWriter.swift — writing JSON text: JSONValue.serialized(), jsonQuoted(_:) and
// JSONObjectWriter, which builds one object's text member by member, in order.

extension JSONValue {
    /// Compact JSON text; numbers are written as their literal text.
    public func serialized() -> String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONBytes.appendQuoted(s, to: &out)
        case .array(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                item.write(to: &out)
            }
            out.append(0x5D)
        case .object(let members):
            out.append(0x7B)
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(0x2C) }
                JSONBytes.appendQuoted(member.key, to: &out)
                out.append(0x3A)
                member.value.write(to: &out)
            }
            out.append(0x7D)
        }
    }
}

/// A JSON string literal including the quotes. Escapes `"`, `\` and control characters
/// (\n \r \t \b \f, others \u00XX); other characters are left as UTF-8.
public func jsonQuoted(_ s: String) -> String {
    var out: [UInt8] = []
    JSONBytes.appendQuoted(s, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Builds one JSON object's text, members in call order:
/// `w.string("id", "x"); w.int("seq", 3); let text = w.finish()  // {"id":"x","seq":3}`
public struct JSONObjectWriter: Sendable {
    private var out: [UInt8] = [0x7B]
    private var isEmpty = true

    public init() {}

    private mutating func key(_ key: String) {
        if !isEmpty { out.append(0x2C) }
        isEmpty = false
        JSONBytes.appendQuoted(key, to: &out)
        out.append(0x3A)
    }

    public mutating func string(_ key: String, _ value: String) {
        self.key(key)
        JSONBytes.appendQuoted(value, to: &out)
    }

    /// The string, or `null` when nil.
    public mutating func optionalString(_ key: String, _ value: String?) {
        guard let value else { return null(key) }
        string(key, value)
    }

    public mutating func int(_ key: String, _ value: Int) {
        self.key(key)
        JSONBytes.appendDecimal(Int64(value), to: &out)
    }

    public mutating func int(_ key: String, _ value: Int64) {
        self.key(key)
        JSONBytes.appendDecimal(value, to: &out)
    }

    public mutating func int(_ key: String, _ value: UInt64) {
        self.key(key)
        JSONBytes.appendDecimal(value, to: &out)
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        raw(key, value ? "true" : "false")
    }

    /// `json` must already be valid JSON text; it is copied as is.
    public mutating func raw(_ key: String, _ json: String) {
        self.key(key)
        out.append(contentsOf: json.utf8)
    }

    /// The raw JSON text, or `null` when nil.
    public mutating func optionalRaw(_ key: String, _ json: String?) {
        raw(key, json ?? "null")
    }

    public mutating func null(_ key: String) {
        raw(key, "null")
    }

    public mutating func stringArray(_ key: String, _ values: [String]) {
        self.key(key)
        out.append(0x5B)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONBytes.appendQuoted(v, to: &out)
        }
        out.append(0x5D)
    }

    public mutating func value(_ key: String, _ value: JSONValue) {
        self.key(key)
        value.write(to: &out)
    }

    /// The object's bytes, `{...}`.
    public mutating func finishBytes() -> [UInt8] {
        var bytes = out
        bytes.append(0x7D)
        return bytes
    }

    /// The object's text, `{...}`.
    public mutating func finish() -> String {
        String(decoding: finishBytes(), as: UTF8.self)
    }
}
