// JSON.swift: a JSON value type for writing request bodies and asserting on responses.
//
// Literals build values (`["type": "chat", "tags": ["a"]]`), `JSON(any:)` converts
// Foundation values built at run time, `==` compares structurally (numbers by value, so
// 1800 == 1800.0, but `true` != 1). `row["id"]` is nil when the key is absent and `.null`
// when it is present with null, so tests can tell the two apart.

import Foundation

enum JSON: Equatable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    // MARK: Parsing and serializing

    init(parsing data: Data) throws {
        self = try JSONDecoder().decode(JSON.self, from: data)
    }

    init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSON].self))
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Compact UTF-8 JSON with sorted keys.
    var data: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSON value cannot fail: every case maps to a JSON token.
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    var serialized: String { String(decoding: data, as: UTF8.self) }

    var description: String { serialized }

    // MARK: From Foundation values

    /// Converts String, Bool, integers, Double, NSNull, JSON, arrays and string-keyed
    /// dictionaries of those. Anything else is a bug in the test and stops it.
    init(any value: Any) {
        switch value {
        case let json as JSON: self = json
        case is NSNull: self = .null
        case let string as String: self = .string(string)
        case let bool as Bool: self = .bool(bool)
        case let int as Int: self = .number(Double(int))
        case let int as Int64: self = .number(Double(int))
        case let double as Double: self = .number(double)
        case let array as [Any]: self = .array(array.map { JSON(any: $0) })
        case let object as [String: Any]: self = .object(object.mapValues { JSON(any: $0) })
        default: preconditionFailure("JSON(any:) cannot convert \(type(of: value)): \(value)")
        }
    }

    // MARK: Access

    subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    subscript(index: Int) -> JSON? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    var stringValue: String? { if case .string(let value) = self { return value }; return nil }
    var boolValue: Bool? { if case .bool(let value) = self { return value }; return nil }
    var doubleValue: Double? { if case .number(let value) = self { return value }; return nil }
    var intValue: Int? { doubleValue.flatMap { $0.rounded() == $0 ? Int(exactly: $0) : nil } }
    var arrayValue: [JSON]? { if case .array(let value) = self { return value }; return nil }
    var objectValue: [String: JSON]? { if case .object(let value) = self { return value }; return nil }
    var isNull: Bool { self == .null }

    /// A copy of an object with `key` set (or removed when `value` is nil).
    func setting(_ key: String, _ value: JSON?) -> JSON {
        guard case .object(var object) = self else { return self }
        object[key] = value
        return .object(object)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
    init(floatLiteral value: Double) { self = .number(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
