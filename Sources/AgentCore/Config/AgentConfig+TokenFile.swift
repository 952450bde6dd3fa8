#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetSupport

extension AgentConfig {
    /// Fills `master.token` from `master.token_file` when the token itself is not set (the
    /// token wins: a value given on purpose over a file left behind). Whitespace around it
    /// (the newline `openssl rand -hex 32 > file` leaves) is not part of it.
    ///
    /// - Throws: a ``ConfigError`` naming the file when it cannot be read or is empty.
    public mutating func readTokenFile() throws {
        guard master.token.isEmpty, !master.tokenFile.isEmpty else { return }
        func fail(_ message: String) -> ConfigError {
            ConfigError(kind: .invalidValue, source: master.tokenFile, key: "master.token_file", message: message)
        }
        guard let file = fopen(master.tokenFile, "r") else {
            throw fail("cannot read it: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        // A token is 64 hex characters; anything past 4 KiB is not a token file.
        var buffer = [UInt8](repeating: 0, count: 4097)
        let count = fread(&buffer, 1, buffer.count, file)
        guard count < buffer.count else { throw fail("longer than 4 KiB: not a token file") }
        let token = String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else { throw fail("the file is empty") }
        master.token = token
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        var view = Substring(self)
        while let first = view.first, isSpace(first) { view = view.dropFirst() }
        while let last = view.last, isSpace(last) { view = view.dropLast() }
        return String(view)
    }
}
