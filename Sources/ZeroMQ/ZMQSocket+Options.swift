import CZeroMQ

extension ZMQSocket {
    func setOption(_ option: Int32, _ value: Int32) throws {
        var value = value
        try withRaw("setsockopt \(option)") { raw in
            guard zmq_setsockopt(raw, option, &value, MemoryLayout<Int32>.size) == 0 else {
                throw ZMQError.last("setsockopt \(option)")
            }
        }
    }

    func setOption(_ option: Int32, bytes: [UInt8]) throws {
        try withRaw("setsockopt \(option)") { raw in
            let rc = bytes.withUnsafeBytes { zmq_setsockopt(raw, option, $0.baseAddress, $0.count) }
            guard rc == 0 else { throw ZMQError.last("setsockopt \(option)") }
        }
    }

    func intOption(_ option: Int32) throws -> Int32 {
        try withRaw("getsockopt \(option)") { raw in
            var value: Int32 = 0
            var size = MemoryLayout<Int32>.size
            guard zmq_getsockopt(raw, option, &value, &size) == 0 else {
                throw ZMQError.last("getsockopt \(option)")
            }
            return value
        }
    }

    func fileDescriptor() throws -> Int32 {
        try intOption(ZMQ_FD)
    }

    /// The endpoint most recently bound, with the port the OS chose for `*`.
    public func lastEndpoint() throws -> String {
        try withRaw("getsockopt LAST_ENDPOINT") { raw in
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            guard zmq_getsockopt(raw, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
                throw ZMQError.last("getsockopt LAST_ENDPOINT")
            }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Messages queued per peer before sends wait (PUSH, DEALER) or drop (PUB).
    public func setSendHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_SNDHWM, messages) }
    /// Messages queued per peer on the receiving side.
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_RCVHWM, messages) }
    /// How long `close()` may keep flushing queued messages; -1 waits for ever, 0 drops them.
    public func setLinger(milliseconds: Int32) throws { try setOption(ZMQ_LINGER, milliseconds) }
    /// Queue messages only to completed connections, so a PUSH never parks work on a peer
    /// that is not there (the guide's advice for task distribution).
    public func setImmediate(_ on: Bool) throws { try setOption(ZMQ_IMMEDIATE, on ? 1 : 0) }
    /// Refuse (drop the connection of) peers that send a message larger than `bytes`.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var value = bytes
        try withRaw("setsockopt MAXMSGSIZE") { raw in
            guard zmq_setsockopt(raw, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size) == 0 else {
                throw ZMQError.last("setsockopt MAXMSGSIZE")
            }
        }
    }
    /// ZMTP-level heartbeats: a PING every `interval` ms; a peer silent for `timeout` ms is
    /// disconnected, so a dead TCP path is noticed without waiting for the kernel.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds)
        try setOption(ZMQ_HEARTBEAT_TTL, timeoutMilliseconds)
    }
    /// The identity a DEALER presents to a ROUTER.
    public func setRoutingID(_ id: [UInt8]) throws { try setOption(ZMQ_ROUTING_ID, bytes: id) }
    /// ROUTER: fail a send to an unknown peer with `EHOSTUNREACH` instead of dropping it silently.
    public func setRouterMandatory(_ on: Bool) throws { try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }
    /// SUB: receive messages whose first frame starts with `prefix` ("" = everything).
    public func subscribe(_ prefix: String) throws { try setOption(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8)) }
    public func unsubscribe(_ prefix: String) throws { try setOption(ZMQ_UNSUBSCRIBE, bytes: Array(prefix.utf8)) }
}
