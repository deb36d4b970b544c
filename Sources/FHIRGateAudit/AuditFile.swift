import FHIRGateCore
import Foundation

/// The open audit file: appends, notices when it was moved away (logrotate without
/// copytruncate), and rotates by size by renaming itself with a timestamp. Used only by
/// the writer thread.
struct AuditFile {
    let path: String
    private var handle: FileHandle?
    private var inode: UInt64 = 0
    private(set) var size: Int = 0

    /// The open file's descriptor (nil while closed).
    var descriptor: Int32? { handle?.fileDescriptor }

    init(path: String) {
        self.path = path
    }

    mutating func open() -> Bool {
        if handle != nil { return true }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]) else { return false }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { return false }
        do {
            size = Int(try h.seekToEnd())
        } catch {
            return false
        }
        var info = stat()
        fstat(h.fileDescriptor, &info)
        inode = UInt64(info.st_ino)
        handle = h
        return true
    }

    mutating func append(_ data: Data, sync: Bool) -> Bool {
        guard open(), let handle else { return false }
        do {
            try handle.write(contentsOf: data)
            if sync { try handle.synchronize() }
            size += data.count
            return true
        } catch {
            return false
        }
    }

    /// The path no longer names the file we have open.
    func wasMovedAway() -> Bool {
        guard handle != nil else { return false }
        var info = stat()
        return stat(path, &info) != 0 || UInt64(info.st_ino) != inode
    }

    /// Renames the current file to `<path>.<UTC timestamp>` and starts a new one.
    mutating func rotate() {
        close()
        let stamp = Self.stamp(Date())
        var target = path + "." + stamp
        var n = 1
        while FileManager.default.fileExists(atPath: target) {
            target = path + "." + stamp + "-" + String(n)
            n += 1
        }
        try? FileManager.default.moveItem(atPath: path, toPath: target)
    }

    mutating func close() {
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
        size = 0
    }

    static func stamp(_ date: Date) -> String {
        UTCTime.compact(secondsSince1970: date.timeIntervalSince1970)
    }
}
