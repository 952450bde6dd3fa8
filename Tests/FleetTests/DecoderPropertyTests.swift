import CallbackWorker
import FleetProtocol
import Foundation
import PropertyBased
import Testing

/// Property tests of every decoder that reads bytes from outside the process: the gateway's
/// WebSocket frame decoder, the callback body parser (gateway intake and worker), the admin
/// callback body, and the bus decoders. Inputs are random bytes, random JSON built from the
/// protocol's own keys, and mutations of valid messages (bit flips, truncation, duplication,
/// splicing, deep nesting, huge numbers, invalid UTF-8, type confusion).
///
/// The property: no input crashes or traps; each either decodes to a value that encodes and
/// decodes back equal, or is refused with a typed error (`ProtocolError` or `DecodingError`,
/// what the callers map to their `error` frame or 400).
///
/// The seed is fixed, so a failure reproduces; the iteration and input are in the message.
/// (PropertyBased's `.fixedSeed` trait is meant for debugging and fails a passing test on
/// purpose, so the generators are run with a seeded `Xoshiro` directly.)
// Serialized, and yielding after every input: these are CPU-bound, and the whole test run
// (integration tests included) shares one cooperative pool of two threads here; two of them
// at once starved every other suite for seconds (TestAgent hellos timed out in a full run),
// and even one, never yielding, held a pool thread for 20 s (a `serve` ready file went
// unread past its 20 s deadline).
@Suite("Decoders of untrusted bytes (property tests)", .serialized)
struct DecoderPropertyTests {
    static let seed: (UInt64, UInt64, UInt64, UInt64) = (0x5EED_F1EE_7000_0010, 0x0DEC_0DE5_0000_0001, 0xB0B5_CAFE_0000_0002, 0x1234_5678_9ABC_DEF0)
    /// Mutated inputs per decoder (random bytes and random JSON: a third of it each).
    static let iterations = 1_000

    // MARK: Decoders under test

    /// One decoder: `decode` is exactly what production calls on the bytes; `roundTrip`
    /// encodes a decoded value and decodes it again, returning whether it came back equal.
    struct Target: Sendable {
        let name: String
        let samples: [[UInt8]]
        let decode: @Sendable ([UInt8]) throws -> any Sendable
        let roundTrip: @Sendable (any Sendable) throws -> Bool

        static func json<T: Codable & Equatable & Sendable>(_ name: String, _ type: T.Type, _ samples: [T]) -> Target {
            Target(
                name: name, samples: samples.map { try! Mutator.encodeSorted($0) },
                decode: { try FleetJSON.decode(T.self, from: $0) },
                roundTrip: { value in
                    let value = value as! T
                    return try FleetJSON.decode(T.self, from: FleetJSON.encode(value)) == value
                }
            )
        }

        /// The shape check must be sound: bytes it accepts decode with the Codable decoder (to
        /// the same seq and time it read), so a replica that decodes them later cannot fail.
        static func rawSnapshot(_ samples: [MetricsSnapshot]) -> Target {
            Target(
                name: "RawSnapshot (shape check)", samples: samples.map { try! Mutator.encodeSorted($0) },
                decode: { bytes in try RawSnapshot(validating: bytes) },
                roundTrip: { value in
                    let raw = value as! RawSnapshot
                    let decoded = try FleetJSON.decode(MetricsSnapshot.self, from: raw.bytes)
                    // Vitals as captured by the check, and as read again from stored bytes.
                    let stored = RawSnapshot(trusted: raw.bytes, timestamp: raw.timestamp, seq: raw.seq)
                    return decoded.seq == raw.seq && FleetJSON.milliseconds(decoded.timestamp) == raw.timestamp
                        && MetricsVitals(decoded) == raw.vitals && MetricsVitals(decoded) == stored.vitals
                }
            )
        }

        /// A frame the cheap path takes as a heartbeat is one the decoder reads as the same
        /// heartbeat; anything else is what the decoder makes of it.
        static func agentFrame(_ samples: [AgentMessage]) -> Target {
            Target(
                name: "AgentFrame (gateway's frame reader)", samples: samples.map { try! Mutator.encodeSorted($0) },
                decode: { bytes in
                    let frame = try AgentFrame.parse(bytes).get()
                    if case .heartbeat(let raw) = frame {
                        // Sound: the full decoder agrees.
                        guard case .heartbeat(let beat) = try FleetJSON.decode(AgentMessage.self, from: bytes),
                            try beat.metrics == raw.decoded(), MetricsVitals(beat.metrics) == raw.vitals,
                            FleetJSON.milliseconds(beat.metrics.timestamp) == raw.timestamp, beat.metrics.seq == raw.seq
                        else { throw SoundnessError() }
                    }
                    return frame
                },
                roundTrip: { value in
                    switch value as! AgentFrame {
                    case .heartbeat(let raw):
                        let again = try AgentFrame.parse(try FleetJSON.encode(AgentMessage.heartbeat(.init(metrics: raw.decoded())))).get()
                        guard case .heartbeat(let second) = again else { return false }
                        return try second.decoded() == raw.decoded()
                    case .message(let message):
                        return try FleetJSON.decode(AgentMessage.self, from: FleetJSON.encode(message)) == message
                    }
                }
            )
        }

        static func busEvent(_ event: BusEvent) -> Target {
            let kind = event.kind
            return Target(
                name: "BusEvent \(kind)", samples: [try! Mutator.encodeSorted(event.payload)],
                decode: { try BusEvent(kind: kind, body: $0) },
                roundTrip: { value in
                    let value = value as! BusEvent
                    return try BusEvent(kind: value.kind, body: value.encodedBody()) == value
                }
            )
        }

        static func gatewayCommand(_ command: GatewayCommand) -> Target {
            let kind = command.kind
            return Target(
                name: "GatewayCommand \(kind)", samples: [try! Mutator.encodeSorted(command.payload)],
                decode: { try GatewayCommand(kind: kind, body: $0) },
                roundTrip: { value in
                    let value = value as! GatewayCommand
                    return try GatewayCommand(kind: value.kind, body: value.encodedBody()) == value
                }
            )
        }
    }

    static let targets: [Target] = {
        let s = Samples.self
        return [
            // The gateway's WebSocket frame decoder (AgentSession.decode).
            .json("AgentMessage (WS frame)", AgentMessage.self, [
                .hello(.init(agent: s.info, metrics: s.snapshot)), .heartbeat(.init(metrics: s.snapshot)),
                .samples(.init(metrics: [s.snapshot, s.bareSnapshot])),
            ]),
            // What the gateway runs on every frame since issue 13: the cheap heartbeat path
            // (JSONScanner + the snapshot's shape), else the decoder above.
            .agentFrame([
                .hello(.init(agent: s.info, metrics: s.snapshot)), .heartbeat(.init(metrics: s.snapshot)),
                .heartbeat(.init(metrics: s.bareSnapshot)), .samples(.init(metrics: [s.snapshot])),
            ]),
            .rawSnapshot([s.snapshot, s.bareSnapshot]),
            // What the agent decodes from a gateway.
            .json("MasterMessage (WS frame)", MasterMessage.self, [
                .callback(s.callback), .welcome(.init(sessionId: "s-1", gatewayId: "gw-1")), .error(.init(code: "malformed", message: "m")),
                .welcome(.init(sessionId: "s-2", gatewayId: "gw-1", credential: "fac_" + String(repeating: "0", count: 64), pendingApproval: true)),
            ]),
            // The callback body: CallbackIntake's check and ReplyProcessor's parse.
            .json("AgentReply (callback body)", AgentReply.self, [
                AgentReply(ok: true, result: try! FleetJSON.decode(JSONValue.self, from: FleetJSON.encode(s.snapshot))),
                AgentReply(ok: true, result: s.execResult), AgentReply(ok: false, error: "refused: not on the list"),
            ]),
            // The admin POST /api/v1/agents/{id}/callbacks body.
            .json("CallbackRequestBody", CallbackRequestBody.self, [
                CallbackRequestBody(kind: .exec, args: .object(["argv": .array([.string("systemctl"), .string("status"), .string("ssh")]), "timeout": .number(10)])),
                CallbackRequestBody(kind: .config, args: .object(["metrics.interval": .number(60), "logging.level": .string("debug")])),
                CallbackRequestBody(kind: .status),
            ]),
            // Bus: events (registry's PULL), commands (gateways' SUB), Clone headers and chunks, jobs.
            .busEvent(.sessionOpened(.init(gatewayId: "gw-1", sessionId: "s-1", agent: s.info, metrics: s.snapshot))),
            .busEvent(.sessionClosed(.init(gatewayId: "gw-1", sessionId: "s-1", agentId: "a-1", reason: "socket closed"))),
            .busEvent(.gatewayHeartbeat(.init(gatewayId: "gw-1", sessions: 12, httpURL: "http://10.0.0.1:8080"))),
            .busEvent(.workerHeartbeat(.init(workerId: "wk-1", jobsDone: 99))),
            .busEvent(.requestCreated(.init(requestId: "r-1", agentId: "a-1", kind: .exec, args: s.callback.args))),
            .busEvent(.requestResult(.init(requestId: "r-1", agentId: "a-1", ok: true, result: s.execResult, error: nil))),
            .busEvent(.agentDelete(.init(agentId: "a-1"))),
            .busEvent(.samples(.init(gatewayId: "gw-1", sessionId: "s-1", agentId: "a-1", metrics: [s.snapshot, s.bareSnapshot]))),
            .busEvent(.sessionOpened(.init(
                gatewayId: "gw-1", sessionId: "s-2", agent: s.info, metrics: nil,
                auth: .enrollment(.init(keyId: "k-1", tenant: "lab", secretSHA256: String(repeating: "ab", count: 32)))
            ))),
            .busEvent(.sessionOpened(.init(gatewayId: "gw-1", sessionId: "s-3", agent: s.info, metrics: nil, auth: .credential))),
            .busEvent(.agentApprove(.init(agentId: "a-1", by: "ops"))),
            .busEvent(.agentRevoke(.init(agentId: "a-1", by: "ops"))),
            .busEvent(.keyCreated(s.key)),
            .busEvent(.keyRevoked(.init(keyId: "k-1", by: "ops"))),
            .busEvent(.audit(s.audit)),
            .gatewayCommand(.callback(.init(sessionId: "s-1", agentId: "a-1", frame: s.callback))),
            .gatewayCommand(.closeSession(.init(sessionId: "s-1", agentId: "a-1", code: 4001, reason: "superseded"))),
            .json("UpdateHeader", UpdateHeader.self, [
                UpdateHeader(seq: 42, epoch: "e-1", op: .upsert), UpdateHeader(seq: UInt64.max, epoch: "e-2", op: .hugz),
            ]),
            .json("SnapshotHeader", SnapshotHeader.self, [SnapshotHeader(seq: 7, epoch: "e-1", nonce: "n-1", last: true)]),
            .json("SnapshotChunk", SnapshotChunk.self, [
                SnapshotChunk(agents: [s.record], requests: [s.request], alerts: [s.alert], keys: [s.key], credentials: [s.credential]),
            ]),
            // The admin POST /api/v1/tokens body.
            .json("APIKeyCreateRequest", APIKeyCreateRequest.self, [
                APIKeyCreateRequest(role: .enrollment, name: "rack-7", tenant: "lab", maxAgents: 50), APIKeyCreateRequest(role: .viewer, name: "grafana"),
            ]),
            .json("CallbackJobHeader", CallbackJobHeader.self, [
                CallbackJobHeader(requestId: "r-1", agentId: "a-1", kind: .logs, gatewayId: "gw-1", contentType: "application/octet-stream"),
            ]),
        ]
    }()

    // MARK: The property

    enum Verdict { case decoded, refused }

    /// Decodes `input` with `target`; records an issue for an untyped error or a value that
    /// does not round-trip.
    @discardableResult
    static func check(_ target: Target, _ input: [UInt8], _ context: @autoclosure () -> String) -> Verdict {
        let value: any Sendable
        do {
            value = try target.decode(input)
        } catch is ProtocolError {
            return .refused
        } catch is DecodingError {
            return .refused
        } catch {
            Issue.record("\(target.name): untyped error \(type(of: error)) (\(error)) for \(context()): \(preview(input))")
            return .refused
        }
        do {
            if try !target.roundTrip(value) {
                Issue.record("\(target.name): decoded value does not round-trip for \(context()): \(preview(input))")
            }
        } catch {
            Issue.record("\(target.name): decoded value cannot be re-encoded (\(error)) for \(context()): \(preview(input))")
        }
        return .decoded
    }

    static func preview(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(300), as: UTF8.self)
        return bytes.count > 300 ? "\(text)… (\(bytes.count) bytes)" : text
    }

    // MARK: Tests

    @Test("valid samples decode and round-trip (the baseline the mutations start from)")
    func samplesDecode() async {
        for target in Self.targets {
            for (index, sample) in target.samples.enumerated() {
                #expect(Self.check(target, sample, "sample \(index)") == .decoded, "\(target.name) sample \(index)")
            }
        }
    }

    @Test("random bytes: never a crash, always a typed error")
    func randomBytes() async {
        var rng = Xoshiro(seed: Self.seed)
        let bytes = Gen<UInt8>.value(in: 0...255).array(of: 0...256)
        // Bytes biased to JSON's own syntax reach further into the parser than uniform noise.
        let alphabet = Array(#"{}[]":,\ 0123456789.eE+-truefalsnul"#.utf8) + [0x00, 0x80, 0xC3, 0xFF]
        let syntax = Gen.int(in: 0...alphabet.count - 1).map { alphabet[$0] }.array(of: 0...256)
        let inputs = Gen<[UInt8]>.oneOf(bytes, syntax)
        for target in Self.targets {
            for iteration in 0..<Self.iterations / 3 {
                let input = inputs.run(using: &rng)
                Self.check(target, input, "random bytes #\(iteration)")
                await Task.yield()
            }
        }
    }

    @Test("random JSON built from the protocol's keys: decodes and round-trips, or a typed error")
    func randomJSON() async {
        var rng = Xoshiro(seed: Self.seed)
        var decoded = 0
        for target in Self.targets {
            let keys = Mutator.keys(in: target.samples)
            let generator = Generator<[UInt8], Shrink.None<[UInt8]>>(run: { rng in
                Array(Mutator.randomJSON(&rng, keys: keys, depth: 0).utf8)
            })
            for iteration in 0..<Self.iterations / 3 {
                if Self.check(target, generator.run(using: &rng), "random JSON #\(iteration)") == .decoded { decoded += 1 }
                await Task.yield()
            }
        }
        // Some random objects are valid (the smaller bodies): the round-trip check was exercised.
        #expect(decoded > 0)
    }

    @Test("mutations of valid messages: bit flips, truncation, duplication, splicing, nesting, huge numbers, bad UTF-8, type confusion")
    func mutations() async {
        var rng = Xoshiro(seed: Self.seed)
        var verdicts: [Verdict: Int] = [:]
        for target in Self.targets {
            let keys = Mutator.keys(in: target.samples)
            let samples = target.samples
            let generator = Generator<(String, [UInt8]), Shrink.None<(String, [UInt8])>>(run: { rng in
                Mutator.mutate(samples, keys: keys, &rng)
            })
            for iteration in 0..<Self.iterations {
                let (how, input) = generator.run(using: &rng)
                verdicts[Self.check(target, input, "mutation #\(iteration) (\(how))"), default: 0] += 1
                await Task.yield()
            }
        }
        #expect(verdicts[.refused, default: 0] > 0 && verdicts[.decoded, default: 0] > 0, "both outcomes seen: \(verdicts)")
    }

    @Test("deep nesting (100,000 levels), huge numbers and invalid UTF-8 at fixed places: typed errors, no stack overflow")
    func pathologicalInputs() async {
        let depth = 100_000
        let open = String(repeating: "[", count: depth)
        let balanced = open + String(repeating: "]", count: depth)
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        var inputs: [(String, String)] = [
            ("100k [", open), ("100k balanced []", balanced), ("100k nested objects", objects),
            ("nesting in a JSONValue field", #"{"kind":"exec","args":"# + balanced + "}"),
            ("nesting in a reply result", #"{"ok":true,"result":"# + balanced + "}"),
            ("nesting in a frame", #"{"type":"hello","agent":"# + balanced + "}"),
            ("1e999", "1e999"), ("huge seq", #"{"seq":1e999,"epoch":"e","op":"hugz"}"#),
            ("UInt64 overflow", #"{"seq":18446744073709551616,"epoch":"e","op":"hugz"}"#),
            ("negative seq", #"{"seq":-1,"epoch":"e","op":"hugz"}"#),
            ("400-digit number", #"{"ok":true,"result":"# + String(repeating: "9", count: 400) + "}"),
            ("tiny number", #"{"ok":true,"result":1e-999}"#),
            ("lone surrogate escape", #"{"ok":false,"error":"\uD800"}"#),
            ("empty", ""), ("whitespace", "   \n\t"), ("null", "null"), ("BOM", "\u{FEFF}{}"),
        ]
        // A 1 MiB string and 100,000 array elements: big, not deep; must just work.
        inputs.append(("1 MiB string", #"{"ok":false,"error":""# + String(repeating: "x", count: 1 << 20) + #""}"#))
        inputs.append(("100k elements", #"{"ok":true,"result":["# + Array(repeating: "0", count: 100_000).joined(separator: ",") + "]}"))
        var raw: [(String, [UInt8])] = inputs.map { ($0.0, Array($0.1.utf8)) }
        for bad: [UInt8] in [[0xC3, 0x28], [0xFF, 0xFE], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x00]] {
            raw.append(("invalid UTF-8 \(bad)", Array(#"{"ok":false,"error":""#.utf8) + bad + Array(#""}"#.utf8)))
        }
        for target in Self.targets {
            for (name, input) in raw {
                Self.check(target, input, name)
                await Task.yield()
            }
        }
        // FleetJSON.decode refuses nesting past `maxDepth`: Foundation's parser admits 512
        // levels but its encoder only 511, so without the limit a value could decode and then
        // never be sent on (this test found it at 511 levels in args).
        let limit = FleetJSON.maxDepth
        func body(levels: Int) -> [UInt8] {
            let arguments = String(repeating: "[", count: levels - 1) + "1" + String(repeating: "]", count: levels - 1)
            return Array((#"{"kind":"exec","args":"# + arguments + "}").utf8)
        }
        if let requests = Self.targets.first(where: { $0.name == "CallbackRequestBody" }) {
            #expect(Self.check(requests, body(levels: limit), "\(limit) levels") == .decoded)
            #expect(Self.check(requests, body(levels: limit + 1), "\(limit + 1) levels") == .refused)
            #expect(Self.check(requests, body(levels: 511), "511 levels") == .refused)
            // Brackets inside strings are text, not nesting (escaped quotes included).
            let text = String(repeating: "[{", count: 200) + #"\"]"#
            let quoted = Array(#"{"kind":"exec","args":{"argv":[""#.utf8) + Array(text.utf8) + Array(#""]}}"#.utf8)
            #expect(Self.check(requests, quoted, "brackets in a string") == .decoded)
        } else {
            Issue.record("no CallbackRequestBody target")
        }
        // Dates finer than the wire's millisecond decode rounded, so they round-trip (before,
        // .12345 decoded, encoded as .123, and decoded unequal; the mutations found it).
        if let frames = Self.targets.first(where: { $0.name.hasPrefix("AgentMessage") }) {
            for stamp in ["2027-01-15T08:00:00.12345Z", "2027-01-15T08:00:00.9999Z", "2027-01-15T09:00:00.0004+01:00"] {
                let frame = Array(#"{"type":"heartbeat","metrics":{"timestamp":"\#(stamp)","seq":1}}"#.utf8)
                #expect(Self.check(frames, frame, "timestamp \(stamp)") == .decoded)
            }
        }
    }

    @Test("ReplyProcessor.process: any body yields a result; ok only for a well-formed ok reply (status: a real snapshot)")
    func replyProcessor() async {
        var rng = Xoshiro(seed: Self.seed)
        guard let replies = Self.targets.first(where: { $0.name.hasPrefix("AgentReply") }) else {
            Issue.record("no AgentReply target")
            return
        }
        let keys = Mutator.keys(in: replies.samples)
        let samples = replies.samples
        let generator = Generator<(String, [UInt8]), Shrink.None<(String, [UInt8])>>(run: { rng in
            Mutator.mutate(samples, keys: keys, &rng)
        })
        var accepted = 0
        for iteration in 0..<Self.iterations {
            await Task.yield()
            let (how, body) = generator.run(using: &rng)
            for kind in [CallbackKind.status, .exec] {
                let header = CallbackJobHeader(requestId: "r-1", agentId: "a-1", kind: kind, gatewayId: "gw-1", contentType: "application/json")
                let result = ReplyProcessor.process(header, body: body)
                #expect(result.requestId == "r-1" && result.agentId == "a-1")
                let reply = try? FleetJSON.decode(AgentReply.self, from: body)
                if result.ok {
                    accepted += 1
                    #expect(reply?.ok == true, "ok for a body that is not an ok reply: mutation #\(iteration) (\(how))")
                    if kind == .status {
                        #expect(reply?.result.flatMap { try? FleetJSON.decode(MetricsSnapshot.self, from: FleetJSON.encode($0)) } != nil)
                    }
                } else {
                    #expect(result.error?.isEmpty == false, "a refusal says why: mutation #\(iteration) (\(how))")
                }
            }
        }
        #expect(accepted > 0)
    }
}

// MARK: - Inputs

/// Valid values of every decoded type, as rich as the real traffic (nested metrics, dates,
/// JSON arguments), so mutations reach every field's decoder.
enum Samples {
    static let date = Date(timeIntervalSince1970: 1_800_000_000.123)
    static let info = AgentInfo(
        id: "a-1", hostname: "db-1", os: OSInfo(name: "Debian GNU/Linux", version: "12 (bookworm)", kernel: "6.1.0-18-amd64", arch: "x86_64"),
        agentVersion: "0.1.0", labels: ["role": "db", "zone": "eu-1"]
    )
    static let snapshot = MetricsSnapshot(
        timestamp: date, seq: 17,
        cpu: CPUMetrics(totalPercent: 12.5, perCorePercent: [10, 15], load1: 0.5, load5: 0.25, load15: 0.125),
        memory: MemoryMetrics(totalBytes: 8_000_000_000, availableBytes: 6_000_000_000, usedBytes: 2_000_000_000, swapTotalBytes: 0, swapFreeBytes: 0),
        filesystems: [FilesystemMetrics(mountPoint: "/", device: "/dev/sda1", fsType: "ext4", totalBytes: 100, freeBytes: 40, availableBytes: 30)],
        network: [NetworkInterfaceMetrics(name: "eth0", rxBytes: 1, txBytes: 2, rxPackets: 3, txPackets: 4, rxErrors: 0, txErrors: 0, rxDrops: 0, txDrops: 0, rxBytesPerSecond: 1.5)],
        uptimeSeconds: 3600, bootTime: Date(timeIntervalSince1970: 1_799_996_400), agentRSSBytes: 9_000_000
    )
    static let bareSnapshot = MetricsSnapshot(timestamp: date, seq: 18)
    static let execResult: JSONValue = .object([
        "exitCode": .number(3), "signal": .null, "timedOut": .bool(false), "stdout": .string("a\nb"), "stderr": .string("é ✓"),
        "truncated": .bool(false), "durationSeconds": .number(0.25),
    ])
    static let callback = MasterMessage.Callback(
        requestId: "r-1", kind: .exec, args: .object(["argv": .array([.string("uptime")]), "timeout": .number(5)]),
        replyPath: "/v1/callbacks/r-1", replyToken: "r-1.abcdef"
    )
    static let record: AgentRecord = {
        var record = AgentRecord(info: info, state: .online, now: date)
        record.gatewayId = "gw-1"
        record.sessionId = "s-1"
        record.connectedAt = date
        record.metrics = snapshot
        return record
    }()
    static let request: RequestRecord = {
        var request = RequestRecord(id: "r-1", agentId: "a-1", kind: .exec, args: callback.args, maxAttempts: 3, createdAt: date)
        request.state = .completed
        request.result = execResult
        request.completedAt = date
        request.replyTokenSHA256 = String(repeating: "ab", count: 32)
        return request
    }()
    static let alert = AlertRecord(id: "cpu:a-1", rule: "cpu", kind: .cpu, agentId: "a-1", hostname: "db-1", state: .firing, firedAt: date, value: 97.5, message: "cpu above 90%")
    static let key = APIKeyRecord(
        id: "k-0123456789ab", name: "rack-7", role: .enrollment, tenant: "lab", secretSHA256: String(repeating: "cd", count: 32),
        createdAt: date, createdBy: "admin", maxAgents: 50
    )
    static let credential: AgentCredential = {
        var credential = AgentCredential(
            agentId: "a-1", secretSHA256: String(repeating: "ef", count: 32), tenant: "lab", enrolledAt: date, enrolledWith: "k-0123456789ab",
            approved: false
        )
        credential.revokedAt = date
        credential.revokedBy = "ops"
        return credential
    }()
    static let audit = AuditEntry(
        at: date, keyId: "k-1", keyName: "alice", tenant: "lab", source: "10.0.0.9:51000", gatewayId: "gw-1", action: "callback.exec",
        agentId: "a-1", requestId: "r-1", argsSHA256: String(repeating: "01", count: 32), status: 202, outcome: "ok"
    )
}

/// Mutation operators over encoded messages, driven by the property test's seeded generator.
enum Mutator {
    typealias RNG = any SeededRandomNumberGenerator

    /// FleetJSON's encoding with sorted keys: dictionary order changes with every process's
    /// hash seed, and the mutations (positions in the bytes) must not, or the fixed seed would
    /// not reproduce a failure.
    static func encodeSorted(_ value: some Encodable) throws -> [UInt8] {
        let encoder = FleetJSON.encoder()
        encoder.outputFormatting.insert(.sortedKeys)
        return Array(try encoder.encode(value))
    }

    static func int(_ range: ClosedRange<Int>, _ rng: inout RNG) -> Int { Int.random(in: range, using: &rng) }

    /// Every object key that occurs in the samples: random JSON and inserted keys use the
    /// protocol's own vocabulary, so they reach the typed decoders instead of failing at once.
    static func keys(in samples: [[UInt8]]) -> [String] {
        var found = Set<String>()
        func walk(_ value: JSONValue) {
            switch value {
            case .object(let object):
                for (key, child) in object {
                    found.insert(key)
                    walk(child)
                }
            case .array(let items): items.forEach(walk)
            default: break
            }
        }
        for sample in samples {
            if let value = try? FleetJSON.decode(JSONValue.self, from: sample) { walk(value) }
        }
        return found.sorted() + ["type", "kind"]
    }

    static let strings = [
        "", "a-1", "hello", "heartbeat", "samples", "exec", "status", "logs", "config", "restart", "upsert", "hugz", "delete",
        "online", "offline", "firing", "cpu", "2027-01-15T08:00:00.123Z", "2027-01-15T08:00:00Z", "not a date", "é", "\u{0}", "\u{FFFF}",
    ]
    static let numbers = ["0", "-0", "1", "-1", "0.5", "1e308", "1e999", "-1e999", "1e-999", "18446744073709551615", "18446744073709551616",
                          "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890", "4001", "1.0"]

    /// A random JSON text: objects keyed by the protocol's keys, scalars from its values.
    static func randomJSON(_ rng: inout RNG, keys: [String], depth: Int) -> String {
        switch int(0...(depth > 4 ? 3 : 5), &rng) {
        case 0: return numbers[int(0...numbers.count - 1, &rng)]
        case 1: return FleetJSON.quote(strings[int(0...strings.count - 1, &rng)])
        case 2: return ["true", "false", "null"][int(0...2, &rng)]
        case 3: return FleetJSON.quote(keys[int(0...keys.count - 1, &rng)])
        case 4: return "[" + (0..<int(0...3, &rng)).map { _ in randomJSON(&rng, keys: keys, depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let members = (0..<int(0...6, &rng)).map { _ in
                FleetJSON.quote(keys[int(0...keys.count - 1, &rng)]) + ":" + randomJSON(&rng, keys: keys, depth: depth + 1)
            }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    /// One to three mutations of a random sample; returns what was done (for the message).
    static func mutate(_ samples: [[UInt8]], keys: [String], _ rng: inout RNG) -> (String, [UInt8]) {
        var bytes = samples[int(0...samples.count - 1, &rng)]
        var done: [String] = []
        for _ in 0..<int(1...3, &rng) {
            let (name, next) = mutateOnce(bytes, samples: samples, keys: keys, &rng)
            done.append(name)
            bytes = next
        }
        return (done.joined(separator: ", "), bytes)
    }

    static func position(_ bytes: [UInt8], _ rng: inout RNG) -> Int { bytes.isEmpty ? 0 : int(0...bytes.count, &rng) }

    static func mutateOnce(_ input: [UInt8], samples: [[UInt8]], keys: [String], _ rng: inout RNG) -> (String, [UInt8]) {
        var bytes = input
        switch int(0...10, &rng) {
        case 0:
            for _ in 0..<int(1...8, &rng) where !bytes.isEmpty {
                let at = int(0...bytes.count - 1, &rng)
                bytes[at] ^= UInt8(1) << UInt8(int(0...7, &rng))
            }
            return ("bit flips", bytes)
        case 1:
            let interesting: [UInt8] = Array(#"{}[]":,\"#.utf8) + [0x00, 0x20, 0x7F, 0x80, 0xC0, 0xFF, UInt8(ascii: "9"), UInt8(ascii: "-")]
            if !bytes.isEmpty { bytes[int(0...bytes.count - 1, &rng)] = interesting[int(0...interesting.count - 1, &rng)] }
            return ("byte set", bytes)
        case 2:
            return ("truncation", Array(bytes.prefix(position(bytes, &rng))))
        case 3:
            let start = position(bytes, &rng), end = min(bytes.count, start + int(0...64, &rng))
            bytes.insert(contentsOf: bytes[start..<end], at: position(bytes, &rng))
            return ("duplication", bytes)
        case 4:
            let start = position(bytes, &rng), end = min(bytes.count, start + int(0...32, &rng))
            bytes.removeSubrange(start..<end)
            return ("deletion", bytes)
        case 5:
            let other = samples[int(0...samples.count - 1, &rng)]
            return ("splice", Array(bytes.prefix(position(bytes, &rng))) + Array(other.suffix(from: position(other, &rng))))
        case 6:
            let depth = [10, 600, 2_000][int(0...2, &rng)]
            let nest = Array(String(repeating: ["[", #"{"a":"#][int(0...1, &rng)], count: depth).utf8)
            bytes.insert(contentsOf: nest, at: valueStart(bytes, &rng))
            return ("nesting \(depth)", bytes)
        case 7:
            let number = Array(numbers[int(0...numbers.count - 1, &rng)].utf8)
            let at = valueStart(bytes, &rng)
            bytes.replaceSubrange(at..<tokenEnd(bytes, from: at), with: number)
            return ("number \(String(decoding: number, as: UTF8.self))", bytes)
        case 8:
            let bad: [[UInt8]] = [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82], Array(#"\uD800"#.utf8), Array(#"\u0000"#.utf8)]
            bytes.insert(contentsOf: bad[int(0...bad.count - 1, &rng)], at: stringInside(bytes, &rng))
            return ("invalid UTF-8", bytes)
        default:
            // Structure-aware: still valid JSON, with a value of another type, a member gone or added.
            guard var value = try? FleetJSON.decode(JSONValue.self, from: bytes) else { return ("not JSON, unchanged", bytes) }
            let how = reshape(&value, keys: keys, &rng)
            return (how, (try? encodeSorted(value)) ?? bytes)
        }
    }

    /// A random position just after a `:` or `[` (where a value starts), else anywhere.
    static func valueStart(_ bytes: [UInt8], _ rng: inout RNG) -> Int {
        let starts = bytes.indices.filter { bytes[$0] == UInt8(ascii: ":") || bytes[$0] == UInt8(ascii: "[") }.map { $0 + 1 }
        return starts.isEmpty ? position(bytes, &rng) : starts[int(0...starts.count - 1, &rng)]
    }

    static func tokenEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var end = start
        while end < bytes.count, !",}]".utf8.contains(bytes[end]) { end += 1 }
        return end
    }

    /// A random position inside a string literal, else anywhere.
    static func stringInside(_ bytes: [UInt8], _ rng: inout RNG) -> Int {
        let quotes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\"") }.map { $0 + 1 }
        return quotes.isEmpty ? position(bytes, &rng) : quotes[int(0...quotes.count - 1, &rng)]
    }

    static func randomValue(_ rng: inout RNG, keys: [String]) -> JSONValue {
        (try? FleetJSON.decode(JSONValue.self, from: Array(randomJSON(&rng, keys: keys, depth: 2).utf8))) ?? .null
    }

    /// Replaces, removes or adds one member somewhere in `value`.
    static func reshape(_ value: inout JSONValue, keys: [String], _ rng: inout RNG) -> String {
        switch value {
        case .object(var object) where !object.isEmpty:
            let key = object.keys.sorted()[int(0...object.count - 1, &rng)]
            switch int(0...4, &rng) {
            case 0:
                object[key] = nil
                value = .object(object)
                return "removed \(key)"
            case 1:
                object[key] = randomValue(&rng, keys: keys)
                value = .object(object)
                return "retyped \(key)"
            case 2:
                object[keys[int(0...keys.count - 1, &rng)] + (int(0...1, &rng) == 0 ? "" : "_unknown")] = randomValue(&rng, keys: keys)
                value = .object(object)
                return "added a member"
            default:
                var child = object[key]!
                let how = reshape(&child, keys: keys, &rng)
                object[key] = child
                value = .object(object)
                return "\(key).\(how)"
            }
        case .array(var items) where !items.isEmpty:
            let index = int(0...items.count - 1, &rng)
            var child = items[index]
            let how = reshape(&child, keys: keys, &rng)
            items[index] = child
            value = .array(items)
            return "[\(index)].\(how)"
        default:
            value = randomValue(&rng, keys: keys)
            return "replaced a scalar"
        }
    }
}

/// The cheap path accepted a frame the decoder reads differently: not a typed refusal, so
/// `check` records it as an issue.
struct SoundnessError: Error {}

extension FleetJSON {
    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        (try? FleetJSON.encodeString(text)) ?? "\"\""
    }
}

extension BusEvent {
    /// The body of the event, for encoding it with another encoder than `encodedBody()`'s.
    var payload: any Encodable {
        switch self {
        case .sessionOpened(let body): body
        case .heartbeat(let body): body.agentId  // binary frames, not a JSON body: not a target
        case .sessionClosed(let body): body
        case .gatewayHeartbeat(let body): body
        case .workerHeartbeat(let body): body
        case .requestCreated(let body): body
        case .requestResult(let body): body
        case .agentDelete(let body): body
        case .samples(let body): body
        case .agentApprove(let body): body
        case .agentRevoke(let body): body
        case .keyCreated(let body): body
        case .keyRevoked(let body): body
        case .audit(let body): body
        }
    }
}

extension GatewayCommand {
    var payload: any Encodable {
        switch self {
        case .closeSession(let body): body
        case .callback(let body): body
        }
    }
}
