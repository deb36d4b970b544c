import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A second, best-effort audit sink: RFC 5424 messages over UDP (RFC 5426) to a local or
/// remote syslog collector, sent from the audit writer thread. The file stays the record
/// of truth; messages lost in transit are counted, never retried.
public final class SyslogSink: Sendable {
    let fd: Int32
    let address: sockaddr_in
    let hostname: String
    let appName: String
    private let failures = Mutex<Int>(0)

    /// `udp://host:port` with a numeric IPv4 host.
    public init?(url: String, appName: String = "fhirgate") {
        guard url.hasPrefix("udp://") else { return nil }
        let rest = url.dropFirst(6)
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]) else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(rest[..<colon]), &addr.sin_addr) == 1 else { return nil }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard socket >= 0 else { return nil }
        _ = fcntl(socket, F_SETFL, O_NONBLOCK)
        fd = socket
        address = addr
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        hostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.appName = appName
    }

    deinit {
        close(fd)
    }

    public var failureCount: Int { failures.withLock { $0 } }

    /// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG`; facility authpriv (10), severity
    /// notice (5) for refusals and info (6) otherwise.
    func send(_ record: AuditRecord, line: String) {
        let severity = record.decision == "allow" || record.decision == "narrowed" ? 6 : 5
        let message = "<\(10 * 8 + severity)>1 \(record.time) \(hostname) \(appName) \(getpid()) \(record.decision) - \(line)"
        var target = address
        let sent = message.utf8CString.withUnsafeBufferPointer { buffer in
            withUnsafePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count - 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if sent < 0 { failures.withLock { $0 += 1 } }
    }
}

import Synchronization
