// RecordData: a record body's `data` JSON, decided once at append time. A valid JSON body is
// stored as itself (raw CR/LF, which JSON allows only as whitespace, become spaces so an SSE
// data line never breaks); any other body is stored as a JSON string.
public enum RecordData {
    public static func json(forBody body: [UInt8]) -> [UInt8] {
        if JSONParser.isValid(body) {
            guard body.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return body }
            return body.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
        }
        var out: [UInt8] = []
        out.reserveCapacity(body.count + body.count / 8 + 2)
        RecordEncoding.appendJSONString(of: body, to: &out)
        return out
    }
}
