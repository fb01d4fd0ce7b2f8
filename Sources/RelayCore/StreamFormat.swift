// StreamFormat.swift — the two framings of a channel's SSE stream and drain (docs/API.md,
// Channels; docs/trigger-sdk.md): the documented one (`id:` / `data:` with the `{data, id}`
// record) and S2's v2 framing that the Trigger.dev SDK reads (`event: batch`).

public enum StreamFormat: String, Sendable, Codable, CaseIterable {
    case documented
    case v2

    /// A request's choice (`?format=`): nil when it makes none (the environment's applies).
    public static func requested(_ query: String?) throws(APIError) -> StreamFormat? {
        guard let query else { return nil }
        guard let format = StreamFormat(rawValue: query) else {
            throw APIError.badRequest("format must be documented or v2")
        }
        return format
    }
}
