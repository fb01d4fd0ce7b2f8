// JSONParseError.swift — why and where (byte offset) a JSON document was rejected.

public struct JSONParseError: Error, Equatable, Sendable {
    /// Byte offset into the input at which the problem was found.
    public let offset: Int
    public let message: String
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
}
