// JSONScanner.swift — the byte-level JSON reader behind JSONParser.
//
// One cursor over a raw buffer. Shared pieces (whitespace, literals, numbers, strings with
// UTF-8 and escape checks) serve two drivers: `parseDocument` (recursive, builds JSONValue)
// and `validateDocument` (iterative with a small container stack, builds nothing).
// Every failure throws JSONParseError with the byte offset of the problem.

private let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, slash: UInt8 = 0x2F
private let comma: UInt8 = 0x2C, colon: UInt8 = 0x3A
private let openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D
private let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D
private let minus: UInt8 = 0x2D, plus: UInt8 = 0x2B, dot: UInt8 = 0x2E
private let digit0: UInt8 = 0x30, digit1: UInt8 = 0x31, digit9: UInt8 = 0x39

struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    var pos = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func error(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? pos, message: message)
    }

    // MARK: Shared pieces

    @inline(__always)
    mutating func skipWhitespace() {
        let n = bytes.count
        while pos < n {
            let c = bytes[pos]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos += 1
        }
    }

    /// Consumes `literal` ("true", "false", "null") at the cursor.
    mutating func expectLiteral(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        let p = literal.utf8Start
        for i in 0..<n where pos + i >= bytes.count || bytes[pos + i] != p[i] {
            throw error("Invalid literal", at: pos + i)
        }
        pos += n
    }

    @inline(__always)
    private func isDigit(_ i: Int) -> Bool {
        i < bytes.count && bytes[i] >= digit0 && bytes[i] <= digit9
    }

    /// Consumes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func scanNumber() throws {
        if bytes[pos] == minus { pos += 1 }
        guard pos < bytes.count else { throw error("Invalid number: missing digits") }
        let first = bytes[pos]
        if first == digit0 {
            pos += 1
        } else if first >= digit1 && first <= digit9 {
            pos += 1
            while isDigit(pos) { pos += 1 }
        } else {
            throw error("Invalid number: missing digits")
        }
        if pos < bytes.count && bytes[pos] == dot {
            pos += 1
            guard isDigit(pos) else { throw error("Invalid number: missing fraction digits") }
            while isDigit(pos) { pos += 1 }
        }
        if pos < bytes.count && (bytes[pos] == 0x65 || bytes[pos] == 0x45) {
            pos += 1
            if pos < bytes.count && (bytes[pos] == plus || bytes[pos] == minus) { pos += 1 }
            guard isDigit(pos) else { throw error("Invalid number: missing exponent digits") }
            while isDigit(pos) { pos += 1 }
        }
    }

    /// Consumes a string starting at its opening quote, checking UTF-8 and escapes.
    /// Returns whether it contains escapes (then its text needs `decodeEscaped`).
    mutating func scanString() throws -> Bool {
        let n = bytes.count
        var escaped = false
        pos += 1
        while pos < n {
            let c = bytes[pos]
            if c >= 0x20 && c < 0x80 && c != quote && c != backslash {
                pos += 1
                continue
            }
            if c == quote {
                pos += 1
                return escaped
            }
            if c == backslash {
                escaped = true
                try scanEscape()
            } else if c < 0x20 {
                throw error("Unescaped control character in string")
            } else {
                try scanUTF8Sequence(lead: c)
            }
        }
        throw error("Unterminated string")
    }

    private mutating func scanEscape() throws {
        guard pos + 1 < bytes.count else { throw error("Unterminated string") }
        switch bytes[pos + 1] {
        case quote, backslash, slash, 0x62, 0x66, 0x6E, 0x72, 0x74: // " \ / b f n r t
            pos += 2
        case 0x75: // u
            let unit = try hex4(at: pos + 2)
            if unit >= 0xDC00 && unit <= 0xDFFF {
                throw error("Unpaired low surrogate in \\u escape")
            }
            pos += 6
            if unit >= 0xD800 && unit <= 0xDBFF {
                guard pos + 1 < bytes.count, bytes[pos] == backslash, bytes[pos + 1] == 0x75 else {
                    throw error("Unpaired high surrogate in \\u escape")
                }
                let low = try hex4(at: pos + 2)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw error("Unpaired high surrogate in \\u escape")
                }
                pos += 6
            }
        default:
            throw error("Invalid escape sequence", at: pos + 1)
        }
    }

    /// The value of four hex digits at `offset`.
    func hex4(at offset: Int) throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("Invalid \\u escape", at: offset) }
        var value: UInt32 = 0
        for i in offset..<offset + 4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw error("Invalid \\u escape", at: i)
            }
            value = value << 4 | UInt32(d)
        }
        return value
    }

    /// Consumes one well-formed multi-byte UTF-8 sequence (no overlongs, surrogates or > U+10FFFF).
    private mutating func scanUTF8Sequence(lead: UInt8) throws {
        let b = bytes
        @inline(__always) func cont(_ i: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i < b.count && b[i] >= lo && b[i] <= hi
        }
        let p = pos
        let length: Int
        switch lead {
        case 0xC2...0xDF:
            length = cont(p + 1) ? 2 : 0
        case 0xE0:
            length = cont(p + 1, 0xA0) && cont(p + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE, 0xEF:
            length = cont(p + 1) && cont(p + 2) ? 3 : 0
        case 0xED:
            length = cont(p + 1, 0x80, 0x9F) && cont(p + 2) ? 3 : 0
        case 0xF0:
            length = cont(p + 1, 0x90) && cont(p + 2) && cont(p + 3) ? 4 : 0
        case 0xF1...0xF3:
            length = cont(p + 1) && cont(p + 2) && cont(p + 3) ? 4 : 0
        case 0xF4:
            length = cont(p + 1, 0x80, 0x8F) && cont(p + 2) && cont(p + 3) ? 4 : 0
        default:
            length = 0
        }
        guard length > 0 else { throw error("Invalid UTF-8 in string") }
        pos += length
    }

    /// The text of an already scanned string body [from, to) that contains escapes.
    func decodeEscaped(from: Int, to: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(to - from)
        var i = from
        while i < to {
            let c = bytes[i]
            if c != backslash {
                out.append(c)
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = (try? hex4(at: i)) ?? 0xFFFD
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = (try? hex4(at: i + 2)) ?? 0xDC00
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                JSONBytes.appendUTF8(scalar: scalar, to: &out)
            default: out.append(e) // " \ /
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Building values

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == bytes.count else { throw error("Unexpected data after the JSON value") }
        return value
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard pos < bytes.count else { throw error("Unexpected end of input") }
        switch bytes[pos] {
        case openBrace:
            return try parseObject(depth: depth + 1)
        case openBracket:
            return try parseArray(depth: depth + 1)
        case quote:
            return .string(try parseString())
        case 0x74:
            try expectLiteral("true")
            return .bool(true)
        case 0x66:
            try expectLiteral("false")
            return .bool(false)
        case 0x6E:
            try expectLiteral("null")
            return .null
        case minus, digit0...digit9:
            let start = pos
            try scanNumber()
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self))
        default:
            throw error("Unexpected character")
        }
    }

    private mutating func parseString() throws -> String {
        let start = pos
        let escaped = try scanString()
        if escaped { return decodeEscaped(from: start + 1, to: pos - 1) }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(pos - 1)]), as: UTF8.self)
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("Nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == closeBracket {
            pos += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw error("Unexpected end of input in array") }
            let c = bytes[pos]
            pos += 1
            if c == comma { continue }
            if c == closeBracket { return .array(items) }
            throw error("Expected ',' or ']'", at: pos - 1)
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("Nesting deeper than \(JSONParser.maxDepth)") }
        pos += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == closeBrace {
            pos += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == quote else { throw error("Expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == colon else { throw error("Expected ':'") }
            pos += 1
            skipWhitespace()
            members.append(JSONMember(key: key, value: try parseValue(depth: depth)))
            skipWhitespace()
            guard pos < bytes.count else { throw error("Unexpected end of input in object") }
            let c = bytes[pos]
            pos += 1
            if c == comma { continue }
            if c == closeBrace { return .object(members) }
            throw error("Expected ',' or '}'", at: pos - 1)
        }
    }

    // MARK: Validation only

    /// Checks one complete document without building values. Iterative: `stack` holds
    /// the open containers (true = object), so deep input costs no call stack. Nesting deeper
    /// than `JSONParser.maxDepth` does not stop the check, so valid-but-too-deep is told apart
    /// from not-JSON: the result says whether it happened.
    mutating func validateDocument() throws -> Bool {
        var stack: [Bool] = []
        var tooDeep = false
        let n = bytes.count
        skipWhitespace()
        valueLoop: while true {
            // A value starts at the cursor.
            guard pos < n else { throw error("Unexpected end of input") }
            switch bytes[pos] {
            case quote:
                _ = try scanString()
            case openBracket, openBrace:
                let isObject = bytes[pos] == openBrace
                if stack.count >= JSONParser.maxDepth { tooDeep = true }
                stack.append(isObject)
                pos += 1
                skipWhitespace()
                if pos < n && bytes[pos] == (isObject ? closeBrace : closeBracket) {
                    pos += 1
                    stack.removeLast()
                } else {
                    if isObject { try validateKey() }
                    skipWhitespace()
                    continue valueLoop
                }
            case 0x74: try expectLiteral("true")
            case 0x66: try expectLiteral("false")
            case 0x6E: try expectLiteral("null")
            case minus, digit0...digit9: try scanNumber()
            default: throw error("Unexpected character")
            }
            // After a value: separators and closing brackets.
            while true {
                skipWhitespace()
                guard let inObject = stack.last else {
                    guard pos == n else { throw error("Unexpected data after the JSON value") }
                    return tooDeep
                }
                guard pos < n else { throw error("Unexpected end of input") }
                let c = bytes[pos]
                pos += 1
                if c == comma {
                    skipWhitespace()
                    if inObject { try validateKey() }
                    skipWhitespace()
                    continue valueLoop
                }
                guard c == (inObject ? closeBrace : closeBracket) else {
                    throw error(inObject ? "Expected ',' or '}'" : "Expected ',' or ']'", at: pos - 1)
                }
                stack.removeLast()
            }
        }
    }

    /// Consumes `"key" :` at the cursor (whitespace before it already skipped).
    private mutating func validateKey() throws {
        guard pos < bytes.count, bytes[pos] == quote else { throw error("Expected a string key") }
        _ = try scanString()
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == colon else { throw error("Expected ':'") }
        pos += 1
    }
}
