import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sends one hand-written HTTP/1.1 request over a plain TCP socket and returns the status
/// code of the response. Used where a test must control every header (a WebSocket upgrade
/// with or without credentials) rather than trust a client library's defaults.
enum RawHTTP {
    /// A TCP connection to 127.0.0.1:`port` whose reads give up after `timeout`.
    static func connect(port: Int, timeout: timeval) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var timeout = timeout
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw HarnessError("connect: errno \(errno)")
        }
        return fd
    }

    /// A listening socket on a free loopback port (the caller closes it, freeing the port for
    /// a process the test starts next).
    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw HarnessError("bind: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func status(port: Int, request: String) throws -> Int {
        let fd = try connect(port: port, timeout: timeval(tv_sec: 5, tv_usec: 0))
        defer { close(fd) }
        let bytes = Array(request.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw HarnessError("send failed")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw HarnessError("no response") }
        let head = String(decoding: buffer[0..<count], as: UTF8.self)
        guard let line = head.split(separator: "\r\n").first, let code = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw HarnessError("not HTTP: \(head.prefix(80))")
        }
        return code
    }

    /// A WebSocket upgrade request for `/ws`, with an optional bearer token.
    static func upgrade(port: Int, token: String?) -> String {
        var request = """
            GET /ws HTTP/1.1
            Host: 127.0.0.1:\(port)
            Upgrade: websocket
            Connection: Upgrade
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
            Sec-WebSocket-Version: 13

            """
        if let token { request = request.replacingOccurrences(of: "Sec-WebSocket-Version: 13\n", with: "Sec-WebSocket-Version: 13\nAuthorization: Bearer \(token)\n") }
        return request + "\n"
    }
}
