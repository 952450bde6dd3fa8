#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ChildProcess {
    /// What a command run to its end printed, and how it ended.
    public struct Result: Sendable {
        public let termination: Termination
        /// stdout and stderr, interleaved as written (one file).
        public let output: String
    }

    /// Runs `executable` to its end with `input` on stdin; its stdout and stderr are kept in a
    /// temporary file (not a pipe: nothing has to drain it while it runs).
    public static func run(
        _ executable: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil,
        directory: String? = nil
    ) async throws(SpawnError) -> Result {
        let files = try CapturedRun(executable, arguments, input: input, environment: environment, directory: directory)
        defer { files.remove() }
        return Result(termination: await files.child.wait()!, output: try readFile(files.output))
    }

    /// `run`, blocking this thread until the command ends: for short commands called from
    /// synchronous code (never for a long one on the cooperative pool).
    public static func runBlocking(
        _ executable: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil,
        directory: String? = nil
    ) throws(SpawnError) -> Result {
        let files = try CapturedRun(executable, arguments, input: input, environment: environment, directory: directory)
        defer { files.remove() }
        return Result(termination: files.child.waitBlocking(), output: try readFile(files.output))
    }

    /// A child reading its stdin from one temporary file and writing stdout and stderr to
    /// another.
    private struct CapturedRun {
        let input: String
        let output: String
        let child: ChildProcess

        init(
            _ executable: String, _ arguments: [String], input text: String, environment: [String: String]?, directory: String?
        ) throws(SpawnError) {
            input = try temporaryFile(containing: text)
            do {
                output = try temporaryFile(containing: "")
            } catch {
                unlink(input)
                throw error
            }
            do {
                child = try ChildProcess(
                    executable: executable, arguments: arguments, environment: environment, directory: directory,
                    stdin: .file(input), stdout: .file(output), stderr: .file(output)
                )
            } catch {
                unlink(input)
                unlink(output)
                throw error
            }
        }

        func remove() {
            unlink(input)
            unlink(output)
        }
    }

    /// Creates a 0600 file under $TMPDIR (or /tmp) holding `text`; returns its path.
    static func temporaryFile(containing text: String) throws(SpawnError) -> String {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(directory)/fleet-spawn-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw SpawnError(description: "mkstemp in \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let error = errno
                unlink(path)
                throw SpawnError(description: "\(path): \(String(cString: strerror(error)))")
            }
            bytes = bytes.dropFirst(written)
        }
        return path
    }

    static func readFile(_ path: String) throws(SpawnError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SpawnError(description: "\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw SpawnError(description: "\(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { break }
            data += chunk[0..<got]
        }
        return String(decoding: data, as: UTF8.self)
    }
}
