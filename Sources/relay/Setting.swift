// Setting: one entry of the settings table (RelaySettings): its config-file key, its RELAY_*
// variable, its flag if it has one, its default, the values it allows and a line of help.
// The model is Redis' config.c (standardConfig: one entry per setting with its type, default
// and bounds). RelayConfig reads every source through these entries, so a value is parsed and
// range-checked the same way whether it comes from the file, the environment or a flag.
//
// API: Setting<Value> (the typed entry the table is made of), AnySetting (the same, with the
// value type erased, for walking the table), SettingValue (the value types: Int, Double, Bool,
// String, [String], [RelayEnvironment]).
import Foundation
import RelayCore
import Yams

/// Why a value was refused, without saying where it came from (the caller adds that).
struct SettingProblem: Error {
    let reason: String
}

/// A type a setting can hold: how it is read from text (an environment variable, a flag) and
/// from the config file, and how a value is shown in help.
protocol SettingValue: Sendable, Equatable {
    /// Parses an environment variable's or a flag's text; throws the reason it cannot.
    static func parse(text: String) throws -> Self
    /// Reads a config file value (never null: a null leaves the setting as it was).
    static func parse(yaml: Node) throws -> Self
    /// How a value is shown in `relay serve --help`.
    var shown: String { get }
}

/// A setting with its value type erased, for walking the table.
protocol AnySetting: Sendable {
    var key: String { get }
    var env: String { get }
    var flag: String? { get }
    var help: String { get }
    /// The allowed values in words ("1 to 64"); empty when any value of the type will do.
    var allowed: String { get }
    var shownDefault: String { get }
    /// The value of `text`, parsed and checked.
    func value(text: String) throws -> any SettingValue
    /// The value of a config file entry, parsed and checked.
    func value(yaml: Node) throws -> any SettingValue
    /// Why the default is not allowed (nil: it is; a test holds the table to that).
    var problemWithDefault: String? { get }
}

struct Setting<Value: SettingValue>: AnySetting {
    let key: String
    let env: String
    let flag: String?
    let defaultValue: Value
    let allowed: String
    let help: String
    /// Why `value` is not allowed, or nil.
    let problem: @Sendable (Value) -> String?

    init(_ key: String, _ env: String, flag: String? = nil, default defaultValue: Value, allowed: String = "",
         _ help: String, problem: @escaping @Sendable (Value) -> String? = { _ in nil }) {
        self.key = key
        self.env = env
        self.flag = flag
        self.defaultValue = defaultValue
        self.allowed = allowed
        self.help = help
        self.problem = problem
    }

    var shownDefault: String { defaultValue.shown }
    var problemWithDefault: String? { problem(defaultValue) }

    func checked(_ value: Value) throws -> Value {
        if let reason = problem(value) { throw SettingProblem(reason: reason) }
        return value
    }

    func value(text: String) throws -> any SettingValue { try checked(Value.parse(text: text)) }
    func value(yaml: Node) throws -> any SettingValue { try checked(Value.parse(yaml: yaml)) }
}

// MARK: Numbers within bounds

extension Setting where Value: Comparable & SettingValue {
    /// A number from `range.lowerBound` to `range.upperBound`.
    init(_ key: String, _ env: String, flag: String? = nil, default defaultValue: Value, _ range: ClosedRange<Value>,
         _ help: String) {
        let allowed = "\(range.lowerBound.shown) to \(range.upperBound.shown)"
        self.init(key, env, flag: flag, default: defaultValue, allowed: allowed, help) { value in
            range.contains(value) ? nil : "must be \(allowed), got \(value.shown)"
        }
    }

    /// A number of at least `range.lowerBound`.
    init(_ key: String, _ env: String, flag: String? = nil, default defaultValue: Value, _ range: PartialRangeFrom<Value>,
         _ help: String) {
        let allowed = "at least \(range.lowerBound.shown)"
        self.init(key, env, flag: flag, default: defaultValue, allowed: allowed, help) { value in
            range.contains(value) ? nil : "must be \(allowed), got \(value.shown)"
        }
    }
}

// MARK: Value types

extension Int: SettingValue {
    static func parse(text: String) throws -> Int {
        guard let value = Int(text) else { throw SettingProblem(reason: "not an integer: '\(text)'") }
        return value
    }
    static func parse(yaml: Node) throws -> Int {
        guard let value = yaml.scalar.flatMap(Int.construct) else {
            throw SettingProblem(reason: "not an integer: \(yaml.shownForError)")
        }
        return value
    }
    var shown: String { String(self) }
}

extension Double: SettingValue {
    static func parse(text: String) throws -> Double {
        guard let value = Double(text), value.isFinite else { throw SettingProblem(reason: "not a number: '\(text)'") }
        return value
    }
    static func parse(yaml: Node) throws -> Double {
        guard let value = yaml.scalar.flatMap(Double.construct), value.isFinite else {
            throw SettingProblem(reason: "not a number: \(yaml.shownForError)")
        }
        return value
    }
    /// 15, not 15.0; 0.05 as written.
    var shown: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}

extension Bool: SettingValue {
    static func parse(text: String) throws -> Bool {
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default: throw SettingProblem(reason: "not true or false: '\(text)'")
        }
    }
    static func parse(yaml: Node) throws -> Bool {
        guard let value = yaml.scalar.flatMap(Bool.construct) else {
            throw SettingProblem(reason: "not true or false: \(yaml.shownForError)")
        }
        return value
    }
    var shown: String { self ? "true" : "false" }
}

extension String: SettingValue {
    static func parse(text: String) throws -> String { text }
    static func parse(yaml: Node) throws -> String {
        guard let scalar = yaml.scalar else { throw SettingProblem(reason: "expected a single value, got a list or a map") }
        return scalar.string
    }
    var shown: String { isEmpty ? "\"\"" : self }
}

/// A list: comma-separated in an environment variable, a YAML list in the file.
extension Array: SettingValue where Element == String {
    static func parse(text: String) throws -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    static func parse(yaml: Node) throws -> [String] {
        guard let items = yaml.sequence?.map({ $0.scalar?.string }), !items.contains(nil) else {
            throw SettingProblem(reason: "expected a list of strings")
        }
        return items.compactMap { $0 }
    }
    var shown: String { isEmpty ? "none" : joined(separator: ",") }
}

/// The environments: a JSON array in RELAY_ENVIRONMENTS, a YAML list in the file.
struct Environments: SettingValue {
    var list: [RelayEnvironment]

    static let example = #"[{"id":"env_dev","slug":"dev","secretKeys":["tr_dev_abc"]}]"#

    static func parse(text: String) throws -> Environments {
        do {
            return Environments(list: try JSONDecoder().decode([RelayEnvironment].self, from: Data(text.utf8)))
        } catch {
            throw SettingProblem(reason: "expected a JSON array like \(example) (\(error.localizedDescription))")
        }
    }
    static func parse(yaml: Node) throws -> Environments {
        do {
            return Environments(list: try YAMLDecoder().decode([RelayEnvironment].self, from: yaml))
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            throw SettingProblem(reason: "missing \(path)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            throw SettingProblem(reason: "bad value at \(path.isEmpty ? "the top" : path): \(context.debugDescription)"
                                 + " (expected a list of {id, slug, secretKeys})")
        } catch {
            throw SettingProblem(reason: "expected a list of {id, slug, secretKeys} (\(error))")
        }
    }
    var shown: String { list.isEmpty ? "none" : list.map(\.id).joined(separator: ",") }
}

extension Node {
    /// A scalar as written, for an error message; "a list" or "a map" otherwise.
    var shownForError: String {
        switch self {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .sequence: return "a list"
        case .mapping: return "a map"
        case .alias: return "an alias"
        }
    }

    /// `key:` with nothing after it, `~` or `null`: the setting keeps its value.
    var isNull: Bool {
        guard let scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}
