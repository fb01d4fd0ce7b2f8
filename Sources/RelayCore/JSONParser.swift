// JSONParser.swift — strict RFC 8259 parsing and fast validation.
//
// API:
//   parse(_: [UInt8]) / parse(_: String) -> JSONValue   builds the tree, throws JSONParseError
//   isValid(_: UnsafeRawBufferPointer) / isValid(_: [UInt8]) -> Bool   no allocation per value
// Rules: any top-level value, whitespace is space/tab/LF/CR only, no trailing garbage,
// nesting depth at most `maxDepth`, strings must be valid UTF-8 with valid escapes
// (a \uD800-\uDBFF escape must be followed by a \uDC00-\uDFFF escape).

public enum JSONParser {
    /// Deepest allowed nesting of arrays and objects (a top-level `[]` is depth 1).
    public static let maxDepth = 512

    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            return try scanner.parseDocument()
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { buf in
            var scanner = JSONScanner(UnsafeRawBufferPointer(buf))
            return try scanner.parseDocument()
        }
    }

    /// True when `bytes` is one complete, valid JSON document within `maxDepth`.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        validity(bytes) == .valid
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }

    /// Whether `bytes` is valid JSON, valid JSON nested deeper than `maxDepth`, or not JSON
    /// at all. Used on every append body (which stores the three cases differently).
    public static func validity(_ bytes: UnsafeRawBufferPointer) -> JSONValidity {
        var scanner = JSONScanner(bytes)
        do {
            return try scanner.validateDocument() ? .tooDeep : .valid
        } catch {
            return .invalid
        }
    }

    public static func validity(_ bytes: [UInt8]) -> JSONValidity {
        bytes.withUnsafeBytes { validity($0) }
    }
}

public enum JSONValidity: Sendable, Equatable {
    case valid
    /// Well-formed, but arrays/objects nest deeper than `JSONParser.maxDepth`.
    case tooDeep
    case invalid
}
