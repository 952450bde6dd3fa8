import ArgumentParser
import FleetProtocol
import Foundation

/// `master status ID`: the agent's metrics, collected now.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Ask an agent for its metrics now.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "Agent id.") var id: String
    @Option(help: "Seconds to wait for the answer.") var wait = 30

    func run() async throws {
        do {
            let record = try await client.client().callback(agent: id, kind: .status, args: .object([:]), wait: wait)
            try report(record, json: client.json) { result in
                let snapshot = try FleetJSON.decode(MetricsSnapshot.self, from: FleetJSON.encode(result))
                print(table(["FIELD", "VALUE"], summary(snapshot)))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

/// `master exec ID -- CMD ARGS`: runs an allowed command on the agent; exits with its code.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run an allowed command on an agent.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "Agent id.") var id: String
    @Option(help: "Seconds before the agent kills the command.") var timeout: Double?
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var argv: [String] = []

    func run() async throws {
        guard !argv.isEmpty else { throw ValidationError("give the command after --, e.g. master exec ID -- uptime") }
        do {
            var args: [String: JSONValue] = ["argv": .array(argv.map { .string($0) })]
            if let timeout { args["timeout"] = .number(timeout) }
            let record = try await client.client().callback(agent: id, kind: .exec, args: .object(args), wait: Int(timeout ?? 60) + 30)
            var exitCode: Int32 = 0
            try report(record, json: client.json) { result in
                FileHandle.standardOutput.write(Data((result["stdout"]?.stringValue ?? "").utf8))
                FileHandle.standardError.write(Data((result["stderr"]?.stringValue ?? "").utf8))
                if result["timedOut"] == .bool(true) { FileHandle.standardError.write(Data("master: timed out on the agent\n".utf8)) }
                exitCode = Int32(result["exitCode"]?.numberValue ?? 1)
            }
            if client.json { exitCode = Int32(record.result?["exitCode"]?.numberValue ?? (record.state == .completed ? 0 : 1)) }
            if exitCode != 0 { throw ExitCode(exitCode) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

/// `master config ID --set key=value`: changes an agent's runtime settings.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Change an agent's metrics.interval or logging.level.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "Agent id.") var id: String
    @Option(name: .customLong("set"), help: ArgumentHelp("key=value (repeatable)", valueName: "key=value")) var settings: [String] = []

    func run() async throws {
        var changes: [String: JSONValue] = [:]
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--set takes key=value, got '\(setting)'") }
            changes[parts[0]] = Double(parts[1]).map { .number($0) } ?? .string(parts[1])
        }
        guard !changes.isEmpty else { throw ValidationError("nothing to change: give --set key=value") }
        do {
            let record = try await client.client().callback(agent: id, kind: .config, args: .object(changes), wait: 30)
            try report(record, json: client.json) { result in
                print(try FleetJSON.encodeString(result["current"] ?? result, pretty: true))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

/// `master logs ID [FILE] [-o OUT] [--tail BYTES]`: fetches a file from the agent's log directory.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Fetch a log file from an agent.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "Agent id.") var id: String
    @Argument(help: "File name inside the agent's log directory.") var file = "agent.log"
    @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?
    @Option(help: "Only the last BYTES bytes.") var tail: Int?

    func run() async throws {
        do {
            var args: [String: JSONValue] = ["file": .string(file)]
            if let tail { args["tail"] = .number(Double(tail)) }
            let api = try client.client()
            let record = try await api.callback(agent: id, kind: .logs, args: .object(args), wait: 300)
            guard record.state == .completed else {
                FileHandle.standardError.write(Data("master: \(record.error ?? record.state.rawValue)\n".utf8))
                throw CLIExit.failed
            }
            let expected = Int(record.result?["bytes"]?.numberValue ?? 0)
            let handle: FileHandle
            if let output {
                _ = FileManager.default.createFile(atPath: output, contents: nil)
                guard let opened = FileHandle(forWritingAtPath: output) else { throw ValidationError("cannot write \(output)") }
                handle = opened
            } else {
                handle = FileHandle.standardOutput
            }
            // Progress on stderr, only for people (a terminal) and only when writing to a file.
            let showProgress = output != nil && isatty(2) == 1
            var written = 0
            let total = try await api.download(record.id) { chunk in
                handle.write(Data(chunk.readableBytesView))
                written += chunk.readableBytes
                if showProgress, expected > 0 {
                    FileHandle.standardError.write(Data("\r\(written * 100 / expected)% of \(expected) bytes".utf8))
                }
            }
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            if output != nil { try handle.close() }
            if client.json {
                print(try FleetJSON.encodeString(["requestId": record.id, "bytes": "\(total)", "sha256": record.result?["sha256"]?.stringValue ?? ""], pretty: true))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

/// `master requests show ID [--wait S]`.
struct RequestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "requests", abstract: "Inspect requests.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a request and its result.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Request id.") var id: String
        @Option(help: "Seconds to wait for it to finish.") var wait = 0

        func run() async throws {
            do {
                let record = try await client.client().get(RequestRecord.self, "/api/v1/requests/\(id)?wait=\(wait)", timeout: .seconds(Int64(wait) + 30))
                if client.json {
                    print(try FleetJSON.encodeString(record, pretty: true))
                    return
                }
                print(table(["FIELD", "VALUE"], [
                    ["id", record.id], ["agent", record.agentId], ["kind", record.kind.rawValue], ["state", record.state.rawValue],
                    ["attempts", "\(record.attempts)/\(record.maxAttempts)"], ["error", record.error ?? "-"],
                ]))
            } catch {
                throw fail(error)
            }
        }
    }
}

/// Prints a finished request: JSON as is, or `human` for people; a failed request exits 1.
func report(_ record: RequestRecord, json: Bool, human: (JSONValue) throws -> Void) throws {
    if json {
        print(try FleetJSON.encodeString(record, pretty: true))
    } else if record.state == .completed, let result = record.result {
        try human(result)
    }
    if record.state != .completed {
        if !json { FileHandle.standardError.write(Data("master: request \(record.id) \(record.state.rawValue): \(record.error ?? "")\n".utf8)) }
        throw CLIExit.failed
    }
}
