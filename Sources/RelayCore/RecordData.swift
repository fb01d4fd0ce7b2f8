// RecordData: a record body's `data` JSON, decided once at append time. A valid JSON body is
// stored as itself (raw CR/LF, which JSON allows only as whitespace, become spaces so an SSE
// data line never breaks); any other body is stored as a JSON string. Valid JSON nested deeper
// than JSONParser.maxDepth is refused: stored as a string it would silently change type, and
// stored as JSON it would break readers with a depth limit (ours included).
public enum RecordData {
    public static let tooDeep = APIError.badRequest(
        "Record body is JSON nested deeper than \(JSONParser.maxDepth) levels")

    /// Throws `tooDeep` (a 400) for valid JSON nested deeper than the limit.
    public static func json(forBody body: [UInt8]) throws -> [UInt8] {
        switch JSONParser.validity(body) {
        case .valid:
            guard body.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return body }
            return body.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
        case .tooDeep:
            throw tooDeep
        case .invalid:
            var out: [UInt8] = []
            out.reserveCapacity(body.count + body.count / 8 + 2)
            RecordEncoding.appendJSONString(of: body, to: &out)
            return out
        }
    }
}
