import FleetProtocol
import Foundation
import NIOCore
import NIOWebSocket
import Testing

/// RFC 6455's rules on the agents' socket, now that the gateway serves it with its own
/// channel handlers (issue 14): each broken rule closes that one session with the code the RFC
/// names, and every other session keeps working.
@Suite("WebSocket rules on the agents' socket", .serialized)
struct WebSocketRulesTests {
    static func text(_ bytes: [UInt8], fin: Bool = true, opcode: WebSocketOpcode = .text) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: bytes))
    }

    static func heartbeat(seq: UInt64) throws -> [UInt8] {
        Array(try FleetJSON.encodeString(AgentMessage.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: seq)))).utf8)
    }

    @Test("1007 for text that is not UTF-8, 1009 for a message over the limit in fragments, 1002 for reserved bits; a fragmented heartbeat is applied; others keep working")
    func closeCodes() async throws {
        try await withCluster("ws-rules") { cluster in
            let master = try await cluster.startServe(["--set", "gateway.max_frame_bytes=65536"])
            let bystander = cluster.testAgent()
            _ = try await bystander.connect(url: master.ws, token: cluster.agentToken)

            // A heartbeat in three fragments is one message, applied.
            let fragmented = cluster.testAgent()
            _ = try await fragmented.connect(url: master.ws, token: cluster.agentToken)
            let beat = try Self.heartbeat(seq: 41)
            let third = beat.count / 3
            try await fragmented.sendFrame(Self.text(Array(beat[..<third]), fin: false))
            try await fragmented.sendFrame(Self.text(Array(beat[third..<(2 * third)]), fin: false, opcode: .continuation))
            try await fragmented.sendFrame(Self.text(Array(beat[(2 * third)...]), opcode: .continuation))
            #expect(await eventually(timeout: .seconds(10)) {
                try await cluster.agents(master).first { $0.id == fragmented.id }?.metrics?.seq == 41
            })

            // Text that is not UTF-8: 1007 (it used to be stored with U+FFFD in its place).
            let garbled = cluster.testAgent()
            _ = try await garbled.connect(url: master.ws, token: cluster.agentToken)
            var bytes = Array(#"{"type":"samples","metrics":[{"note":""#.utf8)
            bytes += [0xC3, 0x28, 0xFF]
            bytes += Array(#""}]}"#.utf8)
            try await garbled.sendFrame(Self.text(bytes))
            let invalid = await garbled.closeCode(timeout: .seconds(10))
            #expect(invalid == 1007, "close code \(String(describing: invalid))")

            // Over the limit in fragments, each one small: 1009 (it used to be 1000).
            let large = cluster.testAgent()
            _ = try await large.connect(url: master.ws, token: cluster.agentToken)
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 30_000)
            try await large.sendFrame(Self.text(chunk, fin: false))
            try await large.sendFrame(Self.text(chunk, fin: false, opcode: .continuation))
            try? await large.sendFrame(Self.text(chunk, opcode: .continuation))
            let tooLarge = await large.closeCode(timeout: .seconds(10))
            #expect(tooLarge == 1009, "close code \(String(describing: tooLarge))")

            // Reserved bits without an extension: 1002.
            let reserved = cluster.testAgent()
            _ = try await reserved.connect(url: master.ws, token: cluster.agentToken)
            var frame = Self.text(try Self.heartbeat(seq: 2))
            frame.rsv2 = true
            try await reserved.sendFrame(frame)
            let protocolError = await reserved.closeCode(timeout: .seconds(10))
            #expect(protocolError == 1002, "close code \(String(describing: protocolError))")

            // Each of them shows disconnected; the bystander's heartbeats still land.
            for agent in [garbled, large, reserved] {
                #expect(await eventually(timeout: .seconds(10)) { try await cluster.states(master)[agent.id] == .disconnected }, "\(agent.id)")
            }
            try await bystander.send(.heartbeat(.init(metrics: MetricsSnapshot(timestamp: Date(), seq: 9))))
            #expect(await eventually(timeout: .seconds(10)) {
                try await cluster.agents(master).first { $0.id == bystander.id }?.metrics?.seq == 9
            })
            await bystander.close()
            await fragmented.close()
        }
    }
}
