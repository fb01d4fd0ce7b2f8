// Any error as an API error: APIErrors pass through, anything else is a 500.
public func asAPIError(_ error: Error) -> APIError {
    (error as? APIError) ?? .internalError("\(error)")
}
