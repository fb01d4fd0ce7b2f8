// SessionResolver: turns the name a request uses for a session (its friendly id, or its
// externalId) into the session's id, which names its slot. A friendly id is its own answer;
// an externalId is looked up in the environment's slot (P{env:ENV}:ext) once and then cached:
// the mapping never changes while the session's data lives. Every script in the session's slot
// checks the name against the row (`owns` in lib.lua), so a stale cache entry (the externalId
// now names a newer session) is noticed, dropped and looked up again.
import RelayCore
import RelayIO
import RelayRedis

public final class SessionResolver {
    /// Entries kept at most; past it the cache starts over (a lookup is one round trip).
    public static let capacity = 100_000

    private let redis: any RedisCommands
    private let keys: RedisKeys
    private var cache: [String: String] = [:]

    public init(redis: any RedisCommands, keys: RedisKeys) {
        self.redis = redis
        self.keys = keys
    }

    private func cacheKey(_ env: String, _ name: String) -> String { env + "\u{0}" + name }

    /// The session id `name` stands for in `env` (nil: none), and whether it came from the cache.
    public func resolve(env: String, _ name: String, _ completion: @escaping (Result<(id: String, cached: Bool)?, APIError>) -> Void) {
        if FriendlyID.isSession(name) {
            // A malformed id names no session (and must not become a key name).
            return completion(.success(FriendlyID.isWellFormedSession(name) ? (name, false) : nil))
        }
        if let id = cache[cacheKey(env, name)] {
            return completion(.success((id, true)))
        }
        let ext = keys.externalIds(environment: env)
        redis.send(key: ext, ["HGET", ext, name]) { reply in
            if let error = reply.apiError { return completion(.failure(error)) }
            completion(.success(reply.string.map { ($0, false) }))
        }
    }

    /// Remembers a mapping a script in the session's slot has confirmed.
    public func remember(env: String, _ name: String, id: String) {
        guard !FriendlyID.isSession(name) else { return }
        if cache.count >= SessionResolver.capacity { cache.removeAll(keepingCapacity: true) }
        cache[cacheKey(env, name)] = id
    }

    public func forget(env: String, _ name: String) {
        cache[cacheKey(env, name)] = nil
    }

    /// Runs `operation` with the id `name` resolves to. If the session's slot then says "not
    /// this name" (`operation` reports `notFound: true`) and the id came from the cache, the
    /// cache entry is dropped and the name looked up once more.
    public func withSession<T>(env: String, _ name: String,
                               notFound: @escaping () -> Result<T, APIError>,
                               _ operation: @escaping (_ id: String, _ done: @escaping (Result<T, APIError>, _ notFound: Bool) -> Void) -> Void,
                               _ completion: @escaping (Result<T, APIError>) -> Void) {
        resolve(env: env, name) { [weak self] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(nil): completion(notFound())
            case .success(let (id, cached)?):
                operation(id) { outcome, missing in
                    guard let self else { return completion(outcome) }
                    if missing && cached {
                        self.forget(env: env, name)
                        return self.withSession(env: env, name, notFound: notFound, operation, completion)
                    }
                    if !missing && !cached { self.remember(env: env, name, id: id) }
                    completion(outcome)
                }
            }
        }
    }
}
