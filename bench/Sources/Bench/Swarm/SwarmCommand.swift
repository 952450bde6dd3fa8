import ArgumentParser
import Foundation
import NIOCore
import Synchronization

/// `bench swarm`: the child process that holds a slice of the simulated fleet. The
/// orchestrator talks to it over stdin/stdout, one JSON object per line (``SwarmMessage``):
/// it prints progress every 200 ms and obeys `connect`, `stop`, `drop`, `histogram`, `quit`,
/// and `interval SECONDS` (every agent beats at the new interval from then on).
struct SwarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm", abstract: "(internal) run a slice of simulated agents; driven by the other subcommands.",
        shouldDisplay: false
    )

    @Option(help: "Number of agents in this process.") var agents: Int
    @Option(help: "Agent id prefix (ids are <prefix>-<n>).") var prefix: String
    @Option(help: "Index of the first agent (spreads source addresses and gateways).") var firstIndex: Int = 0
    @Option(help: "Gateway WebSocket URLs, comma separated.") var gateways: String
    @Option(help: "Enrollment token.") var token: String
    @Option(help: "Heartbeat interval in seconds (0 = none).") var interval: Double
    @Option(help: "Source addresses to bind, comma separated.") var sources: String = ""
    @Option(help: "Most handshakes in flight at once.") var inFlight: Int = 256
    @Option var backoffBase: Double = 0.5
    @Option var backoffCap: Double = 5
    @Option(help: "Event loop threads.") var threads: Int = 1
    @Option(help: "PEM CA bundle for wss:// gateways (default: the system's roots).") var caFile: String?
    @Flag(help: "Connect at once and keep running when stdin ends, until SIGTERM or SIGINT (a load for a master started elsewhere, e.g. the container test's).")
    var connectNow = false

    func run() async throws {
        let settings = Swarm.Settings(
            gateways: try gateways.split(separator: ",").map { try Swarm.Gateway(url: String($0)) },
            token: token,
            heartbeatInterval: .nanoseconds(Int64(interval * 1e9)),
            sourceAddresses: sources.split(separator: ",").map(String.init),
            backoffBase: backoffBase, backoffCap: backoffCap, caFile: caFile
        )
        let swarm = try Swarm(settings: settings, threads: threads)
        let fleet = (0..<agents).map { offset in
            SimulatedAgent(id: "\(prefix)-\(firstIndex + offset)", index: firstIndex + offset, eventLoop: swarm.group.next(), swarm: swarm)
        }
        let output = LineWriter()
        let reporter = Task {
            while !Task.isCancelled {
                output.send(SwarmMessage.progress(Self.progress(swarm)))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        func connectAll() async {
            // A storm, but a bounded one: at most `inFlight` handshakes outstanding.
            var launched = 0
            for agent in fleet {
                while launched - finishedHandshakes(swarm) >= inFlight { try? await Task.sleep(for: .milliseconds(1)) }
                agent.eventLoop.execute { agent.connect() }
                launched += 1
            }
        }
        if connectNow {
            await connectAll()
            await Self.untilTerminated()
            for agent in fleet { agent.eventLoop.execute { agent.stop() } }
            try? await Task.sleep(for: .milliseconds(300))
            reporter.cancel()
            await swarm.shutdown()
            return
        }
        for await command in StandardInputLines() {
            switch command {
            case "connect":
                await connectAll()
            case "stop":
                for agent in fleet { agent.eventLoop.execute { agent.stop() } }
            case "drop":
                for agent in fleet { agent.eventLoop.execute { agent.drop() } }
            case "histogram":
                output.send(SwarmMessage(type: "histogram", handshakes: swarm.takeHandshakes()))
            case "quit":
                // Drop every connection first, so nothing schedules a reconnect on loops
                // that are about to shut down.
                for agent in fleet { agent.eventLoop.execute { agent.drop() } }
                try? await Task.sleep(for: .milliseconds(300))
                reporter.cancel()
                output.send(SwarmMessage.progress(Self.progress(swarm)))
                await swarm.shutdown()
                return
            case let line where line.hasPrefix("interval "):
                guard let seconds = Double(line.dropFirst("interval ".count)), seconds >= 0 else {
                    FileHandle.standardError.write(Data("swarm: bad interval in \(line)\n".utf8))
                    continue
                }
                swarm.heartbeatNanoseconds.store(Int64(seconds * 1e9), ordering: .relaxed)
                for agent in fleet { agent.eventLoop.execute { agent.intervalChanged() } }
            default:
                FileHandle.standardError.write(Data("swarm: unknown command \(command)\n".utf8))
            }
        }
        reporter.cancel()
        await swarm.shutdown()
    }

    /// Returns on SIGTERM or SIGINT (the signals are taken from their default action).
    static func untilTerminated() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in stream { break }
        for source in sources { source.cancel() }
    }

    private func finishedHandshakes(_ swarm: Swarm) -> Int {
        swarm.counters.welcomes.load(ordering: .relaxed) + swarm.counters.connectFailures.load(ordering: .relaxed)
            + swarm.counters.upgradeFailures.load(ordering: .relaxed) + swarm.counters.handshakeTimeouts.load(ordering: .relaxed)
    }

    static func progress(_ swarm: Swarm) -> SwarmProgress {
        let c = swarm.counters
        return SwarmProgress(
            online: c.online.load(ordering: .relaxed), welcomes: c.welcomes.load(ordering: .relaxed),
            disconnects: c.disconnects.load(ordering: .relaxed), sessionsLost: c.sessionsLost.load(ordering: .relaxed), connectFailures: c.connectFailures.load(ordering: .relaxed),
            upgradeFailures: c.upgradeFailures.load(ordering: .relaxed), handshakeTimeouts: c.handshakeTimeouts.load(ordering: .relaxed),
            errorFrames: c.errorFrames.load(ordering: .relaxed),
            heartbeats: c.heartbeats.load(ordering: .relaxed), callbacks: c.callbacks.load(ordering: .relaxed),
            replies: c.replies.load(ordering: .relaxed), replyFailures: c.replyFailures.load(ordering: .relaxed),
            uploadedBytes: c.uploadedBytes.load(ordering: .relaxed)
        )
    }
}

/// Lines of stdin as they arrive, read on a thread of their own (a blocking read must not
/// hold one of the cooperative pool's two threads).
struct StandardInputLines: AsyncSequence {
    typealias Element = String
    func makeAsyncIterator() -> AsyncStream<String>.Iterator {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let thread = Thread {
            while let line = readLine() { continuation.yield(line.trimmingCharacters(in: .whitespaces)) }
            continuation.finish()
        }
        thread.start()
        return stream.makeAsyncIterator()
    }
}

/// Writes one JSON object per line to stdout, whole lines only (a histogram line is longer
/// than a pipe's atomic write, so writers take turns).
final class LineWriter: Sendable {
    private let lock = Mutex(())

    func send(_ message: SwarmMessage) {
        guard var data = try? JSONEncoder().encode(message) else { return }
        data.append(0x0A)
        lock.withLock { _ in
            // The orchestrator is gone (it failed, or was stopped): so is the point of running.
            do { try FileHandle.standardOutput.write(contentsOf: data) } catch { exit(0) }
        }
    }
}
