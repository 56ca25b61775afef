import Glibc
import Foundation

/// libnftables, loaded at run time. One context is held for the whole session: libnftables keeps
/// one netlink socket per context, and an nft table with `flags owner` lives exactly as long as
/// the socket that created it, so closing the context (or dying) removes fwtrace's table.
///
/// Contexts are not independent: libnftables keeps state for the whole process that its contexts
/// share without a lock (1.0.6; the interface cache still in 1.1):
/// - the interface cache (src/iface.c), one list for the process, filled by whichever run first
///   needs an interface's name or index (`iif`, `oif` in a rule parsed or printed) and freed at
///   the end of every `nft_run_cmd_from_buffer`, whichever context ran it;
/// - `strtok` in the JSON output of a set's type (src/json.c, strtok_r from 1.0.9);
/// - libxtables' globals (protocol family, loaded extensions), used to print iptables-nft rules
///   that have an xt match or target, and the first `nft_ctx_new`'s unguarded one-time setup.
/// Sessions run on threads of their own (the daemon runs many), so every call into the library,
/// from creating a context to freeing it, holds one process-wide lock (docs/decisions.md).
public final class NftablesContext {
    typealias NewFn = @convention(c) (UInt32) -> OpaquePointer?
    typealias FreeFn = @convention(c) (OpaquePointer?) -> Void
    typealias IntFn = @convention(c) (OpaquePointer?) -> Int32
    typealias BufferFn = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    typealias RunFn = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32
    typealias FlagsFn = @convention(c) (OpaquePointer?, UInt32) -> Void

    struct Library {
        let new: NewFn, free: FreeFn, bufferOutput: IntFn, bufferError: IntFn
        let outputBuffer: BufferFn, errorBuffer: BufferFn, run: RunFn, setOutputFlags: FlagsFn
    }

    static let outputHandle: UInt32 = 1 << 3
    static let outputJSON: UInt32 = 1 << 4
    static let outputNumericPriority: UInt32 = 1 << 8

    /// Held around every call into libnftables (see above). Also guards `loaded`.
    static let libraryLock = NSLock()
    nonisolated(unsafe) private static var loaded: Library?

    static func load() throws -> Library {
        if let loaded { return loaded }
        guard let handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else {
            throw UserFacingError("libnftables is not installed (libnftables.so.1 not found): install it with `apt-get install libnftables1` (Debian/Ubuntu) or `dnf install nftables` (Fedora/RHEL)", exitCode: ExitCode.unavailable)
        }
        func symbol<T>(_ name: String, _ type: T.Type) throws -> T {
            guard let pointer = dlsym(handle, name) else {
                throw UserFacingError("libnftables.so.1 lacks \(name): install nftables 0.9.3 or newer", exitCode: ExitCode.unavailable)
            }
            return unsafeBitCast(pointer, to: type)
        }
        let library = Library(
            new: try symbol("nft_ctx_new", NewFn.self), free: try symbol("nft_ctx_free", FreeFn.self),
            bufferOutput: try symbol("nft_ctx_buffer_output", IntFn.self),
            bufferError: try symbol("nft_ctx_buffer_error", IntFn.self),
            outputBuffer: try symbol("nft_ctx_get_output_buffer", BufferFn.self),
            errorBuffer: try symbol("nft_ctx_get_error_buffer", BufferFn.self),
            run: try symbol("nft_run_cmd_from_buffer", RunFn.self),
            setOutputFlags: try symbol("nft_ctx_output_set_flags", FlagsFn.self))
        loaded = library
        return library
    }

    private let library: Library
    private var context: OpaquePointer?

    public init() throws {
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        library = try Self.load()
        guard let context = library.new(0) else {
            throw UserFacingError("libnftables could not create a context (out of memory?)", exitCode: ExitCode.failure)
        }
        self.context = context
        _ = library.bufferOutput(context)
        _ = library.bufferError(context)
    }

    public struct Result { public let ok: Bool; public let output: String; public let error: String }

    /// Runs nft commands (nft syntax, as `nft -f` reads them).
    public func run(_ commands: String, handles: Bool = false, json: Bool = false) -> Result {
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        library.setOutputFlags(context, (handles ? Self.outputHandle | Self.outputNumericPriority : 0) | (json ? Self.outputJSON : 0))
        let status = commands.withCString { library.run(context, $0) }
        let output = library.outputBuffer(context).map { String(cString: $0) } ?? ""
        let error = library.errorBuffer(context).map { String(cString: $0) } ?? ""
        return Result(ok: status == 0, output: output, error: error)
    }

    /// Closes the context and with it the socket that owns fwtrace's table.
    public func close() {
        Self.libraryLock.lock()
        defer { Self.libraryLock.unlock() }
        if let context { library.free(context) }
        context = nil
    }

    deinit { close() }
}
