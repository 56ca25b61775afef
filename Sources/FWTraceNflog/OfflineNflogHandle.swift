import Foundation
import Glibc
import CNetfilter
#if !FWTRACE_FUZZ_SINGLE_MODULE
import FWTraceCore
#endif

extension NflogHandle {
    /// The handle that decodes captured bytes (`replay`, the tests, the fuzz targets): group 0
    /// bound in a network namespace of its own, made by a thread that exists only for that (a
    /// namespace moves only the thread that enters it, and this one ends right after). Nothing
    /// logs there, so nothing but what is handed to `decode` reaches it, and no namespace's
    /// logger or group is touched. One for the process, made on first use; it needs root
    /// (CAP_SYS_ADMIN for the namespace).
    public static func offline() throws(NflogLibraryError) -> NflogHandle {
        let result = offlineHandle.withLock { cached -> Result<NflogHandle, NflogLibraryError> in
            if let cached { return .success(cached) }
            let made = onThreadOfItsOwn { () -> Result<NflogHandle, NflogLibraryError> in
                guard fwt_unshare(fwt_clone_newnet) == 0 else { return .failure(NflogLibraryError("unshare(CLONE_NEWNET)", errno: errno)) }
                return Result { () throws(NflogLibraryError) in try NflogHandle(group: 0) }
            }
            if case .success(let handle) = made { cached = handle }
            return made
        }
        return try result.get()
    }
}

private let offlineHandle = OfflineCache()

private final class OfflineCache: @unchecked Sendable {
    private var handle: NflogHandle?
    private let lock = NSLock()
    func withLock<R>(_ body: (inout NflogHandle?) -> R) -> R {
        lock.lock(); defer { lock.unlock() }
        return body(&handle)
    }
}

/// Runs `body` on a new thread and waits for it.
private func onThreadOfItsOwn(_ body: @escaping () -> Result<NflogHandle, NflogLibraryError>) -> Result<NflogHandle, NflogLibraryError> {
    let box = ThreadBox(body)
    var thread = pthread_t()
    let raw = Unmanaged.passRetained(box).toOpaque()
    defer { Unmanaged<ThreadBox>.fromOpaque(raw).release() }
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<ThreadBox>.fromOpaque(raw!).takeUnretainedValue()
        box.result = box.body()
        return nil
    }, raw)
    guard rc == 0 else { return .failure(NflogLibraryError("pthread_create", errno: rc)) }
    pthread_join(thread, nil)
    return box.result ?? .failure(NflogLibraryError("the offline decoder's thread", errno: EIO))
}

private final class ThreadBox {
    let body: () -> Result<NflogHandle, NflogLibraryError>
    var result: Result<NflogHandle, NflogLibraryError>?
    init(_ body: @escaping () -> Result<NflogHandle, NflogLibraryError>) { self.body = body }
}
