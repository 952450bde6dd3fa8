import FleetProtocol
import Foundation
@testable import Gateway
import Testing

/// The gateway's limits and scoping rules as values: token buckets, the end of a request
/// head, and what a key may see of a request.
@Suite("Gateway limits and scoping")
struct GatewayLimitsTests {
    @Test("token bucket: a burst, then the rate; idle time refills up to the burst only")
    func bucket() {
        let start = ContinuousClock.now
        var bucket = TokenBucket(rate: 2, burst: 3, now: start)
        func takes(_ count: Int, at instant: ContinuousClock.Instant) -> [Bool] {
            (0..<count).map { _ in bucket.take(now: instant) }
        }
        #expect(takes(4, at: start) == [true, true, true, false])
        #expect(takes(2, at: start + .milliseconds(500)) == [true, false], "half a second at 2/s is one token")
        // A long idle time refills to the burst, not beyond.
        #expect(takes(4, at: start + .seconds(3600)) == [true, true, true, false])
    }

    @Test("bucket table: one bucket per key, so one agent's flood does not cost another")
    func table() {
        let table = BucketTable()
        let now = ContinuousClock.now
        let noisy = (0..<6).map { _ in table.take("noisy", rate: 1, burst: 5, now: now) }
        #expect(noisy == [true, true, true, true, true, false])
        let quiet = table.take("quiet", rate: 1, burst: 5, now: now)
        #expect(quiet)
    }

    @Test("the blank line that ends a request head is found, also split across reads")
    func headEnd() {
        #expect(HeadTimeoutHandler.endsHead(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        #expect(!HeadTimeoutHandler.endsHead(Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)))
        #expect(!HeadTimeoutHandler.endsHead(Array("\r\n\r".utf8)))
        #expect(HeadTimeoutHandler.endsHead(Array("x\r\r\n\r\n".utf8)))
        #expect(!HeadTimeoutHandler.endsHead(Array("\n\n\n\n".utf8)))
    }

    @Test("a key sees requests of its tenant only, and their arguments and results only if it could have made them")
    func requestView() throws {
        var request = RequestRecord(id: "r1", agentId: "a1", kind: .exec, args: .object(["argv": .array([.string("id")])]), maxAttempts: 3, createdAt: Date())
        request.tenant = "blue"
        request.result = .object(["stdout": .string("secret")])
        let viewer = Principal(keyId: "k1", name: "v", role: .viewer, tenant: "blue")
        let admin = Principal(keyId: "k2", name: "a", role: .admin, tenant: "blue")
        let other = Principal(keyId: "k3", name: "o", role: .admin, tenant: "red")
        let everywhere = Principal(keyId: "k4", name: "all", role: .admin, tenant: nil)
        let seen = try #require(viewer.view(request))
        #expect(seen.args == .null && seen.result == nil, "a viewer learns that an exec ran, not what it printed")
        #expect(admin.view(request) == request)
        #expect(other.view(request) == nil)
        #expect(everywhere.view(request) == request)
        #expect(throws: APIError.self) { try viewer.require(.operator, for: "x") }
    }
}
