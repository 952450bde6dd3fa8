import CZeroMQ

/// An error reported by libzmq, with the operation that failed.
public struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `errno` value libzmq reported (`EAGAIN`, `ETERM`, `EADDRINUSE`, ...).
    public let code: Int32
    /// What we were doing, e.g. `bind tcp://127.0.0.1:5555`.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// Captures `zmq_errno()` right after a failed call.
    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    public var message: String { String(cString: zmq_strerror(code)) }
    public var description: String { "\(operation): \(message) (errno \(code))" }

    /// The socket was closed or its context terminated.
    public static let closed = ZMQError(code: ETERM_CODE, operation: "socket closed")
}

/// `ETERM` is a libzmq-specific errno (base + 53); read it from the header once.
let ETERM_CODE: Int32 = ETERM
let EAGAIN_CODE: Int32 = EAGAIN
let EINTR_CODE: Int32 = EINTR
