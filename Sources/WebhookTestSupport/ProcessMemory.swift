import Foundation

/// How much memory a process holds, from `/proc/<pid>/status` (Linux only).
public struct ProcessMemory: Sendable, CustomStringConvertible {
    /// Resident set size now (`VmRSS`), in KiB.
    public var residentKiB: Int
    /// The highest resident set size so far (`VmHWM`), in KiB.
    public var peakResidentKiB: Int

    /// Reads the figures of process `pid`; `nil` when it has ended or `/proc` is not there.
    public init?(pid: Int32) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func kibibytes(_ field: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first
        }
        guard let resident = kibibytes("VmRSS"), let peak = kibibytes("VmHWM") else { return nil }
        residentKiB = resident
        peakResidentKiB = peak
    }

    public var description: String {
        "VmRSS \(residentKiB / 1024) MiB, VmHWM \(peakResidentKiB / 1024) MiB"
    }
}

extension DaemonProcess {
    /// The process's memory now, `nil` once it has ended.
    public var memory: ProcessMemory? { ProcessMemory(pid: pid) }
}
