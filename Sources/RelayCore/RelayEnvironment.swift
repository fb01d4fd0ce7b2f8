// RelayEnvironment.swift — one configured environment (dev, staging, prod, ...): its id,
// slug, the secret keys that authenticate as it, and the framing its channel streams use.
// Everything is scoped to one environment.

public struct RelayEnvironment: Sendable, Equatable, Codable {
    public var id: String
    public var slug: String
    public var secretKeys: [String]
    /// How its SSE streams and drains are framed unless a request asks (`documented` if unset;
    /// `v2` for an environment whose clients are the Trigger.dev SDK).
    public var streamFormat: StreamFormat

    public init(id: String, slug: String, secretKeys: [String], streamFormat: StreamFormat = .documented) {
        self.id = id
        self.slug = slug
        self.secretKeys = secretKeys
        self.streamFormat = streamFormat
    }

    enum CodingKeys: String, CodingKey { case id, slug, secretKeys, streamFormat }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        slug = try c.decode(String.self, forKey: .slug)
        secretKeys = try c.decode([String].self, forKey: .secretKeys)
        streamFormat = try c.decodeIfPresent(StreamFormat.self, forKey: .streamFormat) ?? .documented
    }
}
