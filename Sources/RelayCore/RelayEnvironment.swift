// RelayEnvironment.swift — one configured environment (dev, staging, prod, ...): its id,
// slug and the secret keys that authenticate as it. Everything is scoped to one environment.

public struct RelayEnvironment: Sendable, Equatable, Codable {
    public var id: String
    public var slug: String
    public var secretKeys: [String]

    public init(id: String, slug: String, secretKeys: [String]) {
        self.id = id
        self.slug = slug
        self.secretKeys = secretKeys
    }
}
