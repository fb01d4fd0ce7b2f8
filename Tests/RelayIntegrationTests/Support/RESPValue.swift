// RESPValue.swift: a RESP2 reply and what the tests read out of it.

import Foundation

enum RESPValue: Equatable, CustomStringConvertible {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk(String)
    case array([RESPValue])
    /// Null bulk string or null array.
    case null

    var string: String? {
        switch self {
        case .simple(let value), .bulk(let value): return value
        default: return nil
        }
    }

    var integer: Int? { if case .integer(let value) = self { return value }; return nil }
    var array: [RESPValue]? { if case .array(let value) = self { return value }; return nil }

    var description: String {
        switch self {
        case .simple(let value): return "+\(value)"
        case .error(let value): return "-\(value)"
        case .integer(let value): return ":\(value)"
        case .bulk(let value): return value.debugDescription
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .null: return "(nil)"
        }
    }

    /// Reads one reply (recursively for arrays).
    static func read(from reader: BufferedReader, deadline: Deadline) throws -> RESPValue {
        guard let line = try reader.readLine(deadline: deadline), let kind = line.first else {
            throw HarnessError("redis closed the connection")
        }
        let rest = String(line.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":":
            guard let value = Int(rest) else { throw HarnessError("bad RESP integer: \(line)") }
            return .integer(value)
        case "$":
            guard let length = Int(rest) else { throw HarnessError("bad RESP bulk length: \(line)") }
            if length < 0 { return .null }
            let bytes = try reader.readExactly(length + 2, deadline: deadline)
            return .bulk(String(decoding: bytes[..<length], as: UTF8.self))
        case "*":
            guard let count = Int(rest) else { throw HarnessError("bad RESP array length: \(line)") }
            if count < 0 { return .null }
            return .array(try (0..<count).map { _ in try read(from: reader, deadline: deadline) })
        default:
            throw HarnessError("unknown RESP type in line \(line.debugDescription)")
        }
    }
}
