// RequestValidation.swift — shared checks for JSON request bodies: parse the body as an
// object, read typed fields, apply length bounds (in Unicode characters, String.count)
// and the tag rules. Every failure is a 400 naming the field.

enum RequestValidation {
    static let malformedJSON = APIError.badRequest("Malformed JSON body")

    static func invalid(_ what: String) -> APIError {
        .badRequest("Invalid request body: \(what)")
    }

    /// The body's top-level object members; an empty (or all-whitespace) body counts as
    /// `{}` when `emptyIsObject`.
    static func object(_ body: [UInt8], emptyIsObject: Bool) throws -> JSONValue {
        if emptyIsObject && body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return .object([])
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw malformedJSON
        }
        guard case .object = value else { throw invalid("expected a JSON object") }
        return value
    }

    /// An optional string field bounded to `range` characters; JSON null counts as absent.
    static func string(_ body: JSONValue, _ field: String, _ range: ClosedRange<Int>, required: Bool = false) throws -> String? {
        guard let value = body[field], !value.isNull else {
            if required { throw invalid("\(field) is required") }
            return nil
        }
        guard let s = value.stringValue else { throw invalid("\(field) must be a string") }
        try bound(s, field, range)
        return s
    }

    static func bound(_ s: String, _ field: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(s.count) else {
            throw invalid("\(field) must be \(range.lowerBound)-\(range.upperBound) characters")
        }
    }

    static let maxTags = 10
    static let tagLength = 1...128

    /// Session tags: an array of at most 10 strings, each 1-128 characters.
    static func tags(_ value: JSONValue, field: String = "tags") throws -> [String] {
        guard let items = value.arrayValue else { throw invalid("\(field) must be an array of strings") }
        guard items.count <= maxTags else { throw invalid("\(field) must have at most \(maxTags) entries") }
        return try items.map { item in
            guard let s = item.stringValue else { throw invalid("\(field) must be an array of strings") }
            guard tagLength.contains(s.count) else {
                throw invalid("each of \(field) must be \(tagLength.lowerBound)-\(tagLength.upperBound) characters")
            }
            return s
        }
    }
}
