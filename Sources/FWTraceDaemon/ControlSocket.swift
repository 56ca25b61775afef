import FWTraceKernel

/// The control socket's file: made fresh at start (refusing when another daemon answers on it),
/// owned by root and the configured group, with the configured mode. The messages say what to do.
enum ControlSocket {
    static func listen(path: String, group: UInt32, mode: UInt32) throws -> UnixListener {
        do {
            return try UnixListener(path: path, group: group, mode: mode)
        } catch {
            switch error {
            case .directory(let directory, let cause):
                throw UserFacingError("cannot create \(directory) for the control socket: \(cause.reason)", exitCode: ExitCode.unavailable)
            case .inUse:
                throw UserFacingError("another fwtrace daemon answers on \(path): stop it first (systemctl stop fwtrace)", exitCode: ExitCode.unavailable)
            case .tooLong:
                throw UserFacingError("the control socket path \(path) is too long (at most 107 bytes)", exitCode: ExitCode.usage)
            case .bind(let cause):
                throw UserFacingError("cannot bind the control socket \(path): \(cause.reason)", exitCode: ExitCode.unavailable)
            case .ownership(let cause):
                throw UserFacingError("cannot set owner and mode of \(path): \(cause.reason)", exitCode: ExitCode.unavailable)
            case .listen(let cause):
                throw cause
            }
        }
    }
}
