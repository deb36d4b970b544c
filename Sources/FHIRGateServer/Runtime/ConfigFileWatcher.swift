#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reloads the configuration when a file it is made of changes — the config, and every
/// `*.yaml` in its folder and in the folders of its policy files (so a policy or test file
/// added later is seen too). Polls `stat` once a second: no inotify, so it also works on
/// bind mounts and on Kubernetes ConfigMaps, which swap files by renaming a symlink. A
/// change is picked up within about 1.2 s; a failed reload keeps the running config and is
/// retried only when the files change again.
struct ConfigFileWatcher {
    let runtime: GatewayRuntime

    func run() async {
        var last = signature()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard runtime.snapshot.config.server.watchFiles else { continue }
            guard signature() != last else { continue }
            // Let an editor finish (several writes, or write-then-rename).
            try? await Task.sleep(for: .milliseconds(200))
            last = signature()
            runtime.logger.info("configuration files changed; reloading")
            await runtime.reload()
        }
    }

    /// mtime, size and inode of every watched file.
    func signature() -> [String: String] {
        var folders = Set([(runtime.configFile as NSString).deletingLastPathComponent])
        for route in runtime.snapshot.routes {
            if let file = route.policy?.file { folders.insert((file as NSString).deletingLastPathComponent) }
        }
        var files = [runtime.configFile]
        for folder in folders {
            let dir = folder.isEmpty ? "." : folder
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.map { (dir as NSString).appendingPathComponent($0) }
        }
        var out: [String: String] = [:]
        for file in files {
            var st = stat()
            out[file] = stat(file, &st) == 0 ? "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_size):\(st.st_ino)" : "missing"
        }
        return out
    }
}
