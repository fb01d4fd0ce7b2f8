// StreamEntry.swift: one Redis stream entry, as XRANGE and XREADGROUP return it.

import Foundation

/// One stream entry (XRANGE / XREADGROUP), fields as a dictionary.
struct StreamEntry: CustomStringConvertible {
    var id: String
    var fields: [String: String]

    var description: String { "\(id) \(fields)" }

    /// Parses `[id, [field, value, ...]]`.
    init(_ value: RESPValue) throws {
        guard let parts = value.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array,
              flat.count % 2 == 0 else {
            throw HarnessError("not a stream entry: \(value)")
        }
        self.id = id
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: flat.count, by: 2) {
            fields[flat[index].string ?? ""] = flat[index + 1].string ?? ""
        }
        self.fields = fields
    }
}
