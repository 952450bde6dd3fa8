#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `exec.allow` entry: a whole argv pattern, `/usr/bin/systemctl status *`.
///
/// The first word is the program, an absolute path taken literally. Every further word is a
/// pattern for one argument, matched with `fnmatch(3)` and no flags: `*`, `?` and `[...]` as
/// in the shell, `/` and a leading `.` not special (an argument is not a path to the
/// matcher). The request must have exactly as many arguments as the entry has patterns, so
/// `/usr/bin/uptime` alone allows `uptime` with no arguments, and `*` is one argument, never
/// "the rest".
///
/// Words are split and quoted as in the shell, so an argument with a space can be written:
/// `'...'` is literal, `"..."` is literal except `\"` and `\\`, and `\c` outside quotes is a
/// literal `c`. Quoted or escaped wildcards are literal (`'*'` allows only the argument `*`).
public struct ExecPattern: Sendable, Equatable, CustomStringConvertible {
    /// The entry as written in the configuration.
    public let entry: String
    /// Absolute path of the program; the one executed when the entry matches.
    public let program: String
    /// One `fnmatch` pattern per argument (escaped where the entry quoted a wildcard).
    public let arguments: [String]

    public var description: String { entry }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let entry: String
        public let reason: String
        public var description: String { "exec.allow entry '\(entry)': \(reason)" }
    }

    public init(parsing entry: String) throws(Invalid) {
        let words: [Word]
        do {
            words = try Self.split(entry)
        } catch {
            throw Invalid(entry: entry, reason: error.reason)
        }
        guard let first = words.first else { throw Invalid(entry: entry, reason: "empty: write the program's absolute path, then one pattern per argument") }
        guard !first.hasWildcard else {
            throw Invalid(entry: entry, reason: "the program must be an exact path; wildcards are allowed in arguments only")
        }
        guard first.literal.hasPrefix("/") else {
            var reason = "'\(first.literal)' is not an absolute path: write the program's full path"
            if let found = ProgramSearch.resolve(first.literal) { reason += " (here: \(found))" }
            throw Invalid(entry: entry, reason: reason)
        }
        self.entry = entry
        self.program = first.literal
        self.arguments = words.dropFirst().map(\.pattern)
    }

    /// Whether `arguments` (argv without argv[0]) match: same count, each against its pattern.
    public func matches(arguments given: [String]) -> Bool {
        guard given.count == arguments.count else { return false }
        return zip(arguments, given).allSatisfy { pattern, argument in fnmatch(pattern, argument, 0) == 0 }
    }

    // MARK: Splitting

    /// One word of an entry: its literal text (quotes removed) and its pattern for fnmatch.
    struct Word: Equatable {
        var literal = ""
        var pattern = ""
        var hasWildcard = false

        mutating func appendLiteral(_ character: Character) {
            literal.append(character)
            // Escaped so fnmatch sees the character itself, not syntax.
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }

        mutating func appendWildcard(_ character: Character) {
            literal.append(character)
            pattern.append(character)
            hasWildcard = true
        }
    }

    struct SplitError: Error {
        let reason: String
    }

    /// Shell-like word splitting (no expansion, no variables, no operators: `;` or `|` is
    /// just a character of a word).
    static func split(_ entry: String) throws(SplitError) -> [Word] {
        enum Quote { case none, single, double }
        var words: [Word] = []
        var current = Word()
        var inWord = false
        var quote = Quote.none
        var characters = entry.makeIterator()
        while let character = characters.next() {
            switch quote {
            case .single:
                if character == "'" { quote = .none } else { current.appendLiteral(character) }
            case .double:
                if character == "\"" {
                    quote = .none
                } else if character == "\\" {
                    guard let next = characters.next() else { throw SplitError(reason: "unterminated double quote") }
                    if next != "\"" && next != "\\" { current.appendLiteral("\\") }
                    current.appendLiteral(next)
                } else {
                    current.appendLiteral(character)
                }
            case .none:
                switch character {
                case " ", "\t", "\n":
                    if inWord {
                        words.append(current)
                        current = Word()
                        inWord = false
                    }
                case "'":
                    quote = .single
                    inWord = true
                case "\"":
                    quote = .double
                    inWord = true
                case "\\":
                    guard let next = characters.next() else { throw SplitError(reason: "ends with a lone backslash") }
                    current.appendLiteral(next)
                    inWord = true
                case "*", "?", "[":
                    current.appendWildcard(character)
                    inWord = true
                case "]":
                    // Raw, so it can close a bracket expression; alone it matches itself.
                    current.literal.append(character)
                    current.pattern.append(character)
                    inWord = true
                default:
                    current.appendLiteral(character)
                    inWord = true
                }
            }
        }
        switch quote {
        case .single: throw SplitError(reason: "unterminated single quote")
        case .double: throw SplitError(reason: "unterminated double quote")
        case .none: break
        }
        if inWord { words.append(current) }
        return words
    }
}
