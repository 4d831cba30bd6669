#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wakes a thread that sleeps in `poll()`: the thread polls the pipe's read end (and a socket),
/// other threads write a byte to it.
final class WakeUpPipe: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe() failed: out of file descriptors")
        self.readEnd = ends[0]
        self.writeEnd = ends[1]
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        close(self.readEnd)
        close(self.writeEnd)
    }

    /// Wakes the waiting thread. A full pipe already guarantees a wake-up, so a failed write is fine.
    func signal() {
        var byte: UInt8 = 1
        _ = write(self.writeEnd, &byte, 1)
    }

    /// Sleeps until `signal()` is called or `socket` becomes readable, then empties the pipe.
    func wait(orReadable socket: Int32?) {
        var descriptors = [pollfd(fd: self.readEnd, events: Int16(POLLIN), revents: 0)]
        if let socket, socket >= 0 {
            descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
        }
        _ = poll(&descriptors, nfds_t(descriptors.count), -1)
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(self.readEnd, &buffer, buffer.count) > 0 {}
    }
}
