import FleetProtocol
import Foundation
import Registry
import Testing

@Suite("Registry request table: attempts, waiting and the time budget")
struct RequestTableTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let settings = RequestTable.Settings(attemptTimeout: 30, maxAttempts: 3, retention: 3600)

    func created(_ id: String = "r-1") -> BusEvent.RequestCreated {
        .init(requestId: id, agentId: "web-1", kind: .status, args: .object([:]))
    }

    @Test("an agent that never connects fails the request after every attempt's time")
    func neverConnected() {
        var table = RequestTable(settings: settings)
        #expect(table.create(created(), now: start) != nil)
        #expect(table.expire(now: start.addingTimeInterval(89), isOnline: { _ in false }).failed.isEmpty)
        let failed = table.expire(now: start.addingTimeInterval(90), isOnline: { _ in false }).failed
        #expect(failed.map(\.id) == ["r-1"])
        #expect(failed.first?.error?.contains("did not connect") == true)
    }

    @Test("an online agent that does not answer gets the request again, then it fails after the last attempt")
    func retriedThenFailed() throws {
        var table = RequestTable(settings: settings)
        _ = table.create(created(), now: start)
        var now = start
        for attempt in 1...3 {
            #expect(table.dispatched("r-1", now: now)?.attempts == attempt)
            now = now.addingTimeInterval(30)
            let expiry = table.expire(now: now, isOnline: { _ in true })
            if attempt < 3 {
                #expect(expiry.retry.map(\.id) == ["r-1"])
            } else {
                #expect(expiry.failed.first?.error?.contains("no result after 3 attempt(s)") == true)
            }
        }
    }

    /// Found by the API fuzz run: a request sent once to an agent that then left stayed
    /// pending for ever, each expiry granting it another attempt's time.
    @Test("a request sent to an agent that then leaves for good fails when the whole budget is spent")
    func agentLeftForGood() throws {
        var table = RequestTable(settings: settings)
        _ = table.create(created(), now: start)
        _ = table.dispatched("r-1", now: start)
        var now = start
        var failed: [RequestRecord] = []
        // Expiries every 10 s for 10 minutes: the request must end, and at 90 s, not later.
        while failed.isEmpty, now < start.addingTimeInterval(600) {
            now = now.addingTimeInterval(10)
            let expiry = table.expire(now: now, isOnline: { _ in false })
            #expect(expiry.retry.isEmpty)
            failed = expiry.failed
        }
        let record = try #require(failed.first)
        #expect(now == start.addingTimeInterval(90))
        #expect(record.state == .failed)
        #expect(record.error?.contains("did not come back") == true)
        // Until then it waited as pending, ready for the agent's return.
    }

    @Test("a result naming another agent than the request's changes nothing; the right agent's completes it")
    func resultFromAnotherAgent() throws {
        var table = RequestTable(settings: settings)
        _ = table.create(created(), now: start)
        _ = table.dispatched("r-1", now: start)
        let forged = BusEvent.RequestResult(requestId: "r-1", agentId: "db-7", ok: true, result: .string("forged"), error: nil)
        let refused = table.complete(forged, now: start.addingTimeInterval(1))
        #expect(refused == nil)
        let untouched = try #require(table.requests["r-1"])
        #expect(untouched.state == .dispatched && untouched.result == nil && untouched.duplicateReplies == 0)
        // The request's own agent still completes it, once.
        let real = BusEvent.RequestResult(requestId: "r-1", agentId: "web-1", ok: true, result: .string("real"), error: nil)
        let outcome = table.complete(real, now: start.addingTimeInterval(2))
        let completed = try #require(outcome)
        #expect(!completed.duplicate && completed.record.state == .completed && completed.record.result == .string("real"))
        // And a forged one after that is not even counted as a duplicate on the record.
        let late = table.complete(forged, now: start.addingTimeInterval(3))
        #expect(late == nil)
        #expect(table.requests["r-1"]?.duplicateReplies == 0)
    }

    @Test("an agent that comes back within the budget gets the request again")
    func agentCameBack() throws {
        var table = RequestTable(settings: settings)
        _ = table.create(created(), now: start)
        _ = table.dispatched("r-1", now: start)
        let waiting = table.expire(now: start.addingTimeInterval(30), isOnline: { _ in false })
        #expect(waiting.failed.isEmpty && waiting.retry.isEmpty)
        #expect(table.pending(for: "web-1").map(\.id) == ["r-1"])
        #expect(table.dispatched("r-1", now: start.addingTimeInterval(40))?.attempts == 2)
    }
}
