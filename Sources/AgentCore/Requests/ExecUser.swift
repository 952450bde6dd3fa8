#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The account `exec` children run as (`exec.user`), resolved once at start: the child
/// cannot look anything up after the fork (no allocation, no NSS), so uid, gid, supplementary
/// groups and home are all known before.
public struct ExecUser: Sendable, Equatable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// Supplementary groups (what `initgroups` would set), the primary group included.
    public let groups: [gid_t]
    public let home: String

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Resolves `exec.user`: a user name, or a numeric uid that has a passwd entry.
    public static func resolve(_ spec: String) throws(Invalid) -> ExecUser {
        let trimmed = spec.trimmingSpaces
        guard !trimmed.isEmpty else { throw Invalid(description: "exec.user is empty") }
        let entry: Entry?
        if let uid = UInt32(trimmed) {
            entry = lookup(uid: uid_t(uid))
        } else {
            entry = lookup(name: trimmed)
        }
        guard let entry else { throw Invalid(description: "exec.user '\(trimmed)': no such user on this host") }
        return ExecUser(name: entry.name, uid: entry.uid, gid: entry.gid, groups: groups(of: entry.name, primary: entry.gid), home: entry.home)
    }

    /// The account the agent itself runs as (for HOME when `exec.user` is not set).
    public static func current() -> ExecUser? {
        guard let entry = lookup(uid: geteuid()) else { return nil }
        return ExecUser(name: entry.name, uid: entry.uid, gid: entry.gid, groups: [], home: entry.home)
    }

    /// Whether the agent must (and may) switch to this user for a child: only root can, and
    /// a non-root agent may only name itself.
    public func checkSwitchable() throws(Invalid) {
        let agent = geteuid()
        if agent != 0 && agent != uid {
            throw Invalid(description: "exec.user '\(name)' (uid \(uid)) needs the agent to run as root to switch users; it runs as uid \(agent). Remove exec.user or run the agent as root")
        }
    }

    struct Entry {
        var name: String
        var uid: uid_t
        var gid: gid_t
        var home: String
    }

    static func lookup(uid: uid_t) -> Entry? {
        withPasswdBuffer { record, buffer, result in getpwuid_r(uid, &record, buffer.baseAddress!, buffer.count, &result) }
    }

    static func lookup(name: String) -> Entry? {
        withPasswdBuffer { record, buffer, result in getpwnam_r(name, &record, buffer.baseAddress!, buffer.count, &result) }
    }

    private static func withPasswdBuffer(
        _ call: (inout passwd, UnsafeMutableBufferPointer<CChar>, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> Entry? {
        var size = 4096
        while size <= 1 << 20 {
            var record = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let rc = call(&record, buffer, &result)
            if rc == ERANGE {
                size *= 4
                continue
            }
            guard rc == 0, result != nil else { return nil }
            return Entry(
                name: String(cString: record.pw_name), uid: record.pw_uid, gid: record.pw_gid,
                home: record.pw_dir.map { String(cString: $0) } ?? "/"
            )
        }
        return nil
    }

    /// `getgrouplist`, growing the buffer until the list fits.
    static func groups(of name: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 32
        while count <= 65_536 {
            var list = [gid_t](repeating: 0, count: Int(count))
            var found = count
            #if canImport(Darwin)
            let rc = list.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: Int32.self, capacity: buffer.count) {
                    getgrouplist(name, Int32(bitPattern: primary), $0, &found)
                }
            }
            #else
            let rc = getgrouplist(name, primary, &list, &found)
            #endif
            if rc >= 0 { return Array(list.prefix(Int(found))) }
            count = max(found, count * 2)
        }
        return [primary]
    }
}

fileprivate extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
