import Glibc

/// The process's limit of open files, raised so every transfer slot can have its socket.
enum FileDescriptorLimit {
    /// Raises the soft limit of open files to what `needed` transfers take (one socket each,
    /// plus room for the database, the API and libcurl's own), up to the hard limit. Returns the
    /// soft limit in force afterwards; the default soft limit of a login shell, 1024, would make
    /// every transfer beyond about a thousand fail to connect.
    @discardableResult
    static func raise(toFit needed: Int) -> Int {
        var limits = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return -1 }
        let wanted = rlim_t(needed + 512)
        guard limits.rlim_cur < wanted else { return Int(clamping: limits.rlim_cur) }
        limits.rlim_cur = min(wanted, limits.rlim_max)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits)
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits)
        return Int(clamping: limits.rlim_cur)
    }
}
