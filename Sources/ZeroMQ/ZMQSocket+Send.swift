import CZeroMQ

extension ZMQSocket {
    /// Sends `message` without ever blocking a thread.
    ///
    /// When the HWM is reached libzmq answers `EAGAIN`; the calling *task* then sleeps
    /// (50 µs, doubling to 5 ms) and tries again, which is ZeroMQ's back-pressure reaching
    /// async code. A PUB socket never says `EAGAIN`: it drops at the HWM by design, which
    /// is why nothing that must arrive rides on PUB alone.
    /// - Throws: `ZMQError` (e.g. `EHOSTUNREACH` from a mandatory ROUTER, `ETERM` once closed);
    ///   `CancellationError` if the task is cancelled while waiting.
    public func send(_ message: ZMQMessage) async throws {
        var delay: UInt64 = 50_000
        while true {
            if try trySendCounting(message, countDrop: false) { return }
            counters.sendRetries.add(1, ordering: .relaxed)
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 5_000_000)
        }
    }

    public func send(_ frames: [[UInt8]]) async throws {
        try await send(ZMQMessage(frames))
    }

    /// Sends `message` if it can go now; returns false (and counts a drop) when the HWM is
    /// reached. For traffic where the newest value supersedes the old (heartbeats).
    @discardableResult
    public func trySend(_ message: ZMQMessage) throws -> Bool {
        try trySendCounting(message, countDrop: true)
    }

    /// Sends `message` if it can go now; returns false when the HWM is reached, counting
    /// nothing (the caller keeps the message and offers it again: see the gateway's
    /// heartbeat outbox).
    public func offer(_ message: ZMQMessage) throws -> Bool {
        try trySendCounting(message, countDrop: false)
    }

    private func trySendCounting(_ message: ZMQMessage, countDrop: Bool) throws -> Bool {
        precondition(!message.frames.isEmpty, "a ZeroMQ message has at least one frame")
        let sent = try withRaw("send") { raw -> Bool in
            let last = message.frames.count - 1
            for (index, frame) in message.frames.enumerated() {
                let flags = ZMQ_DONTWAIT | (index < last ? ZMQ_SNDMORE : 0)
                while true {
                    let rc = frame.withUnsafeBytes { zmq_send(raw, $0.baseAddress, $0.count, flags) }
                    if rc >= 0 { break }
                    let code = zmq_errno()
                    if code == EINTR_CODE { continue }
                    // libzmq checks the HWM on the first frame only: once it is accepted the
                    // remaining frames are too, so EAGAIN can only happen at index 0.
                    if code == EAGAIN_CODE && index == 0 { return false }
                    throw ZMQError(code: code, operation: "send")
                }
            }
            return true
        }
        if type.canReceive { pokeReceiver() }  // this call may have taken the fd's edge
        if sent {
            counters.sent.add(1, ordering: .relaxed)
        } else if countDrop {
            counters.dropped.add(1, ordering: .relaxed)
        }
        return sent
    }
}
