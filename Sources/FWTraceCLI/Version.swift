/// fwtrace's version: the one place it is written. `fwtrace --version` prints it, and the Makefile
/// reads it from this line for the Debian package (`make deb` -> fwtrace_<version>_amd64.deb), so
/// keep the form `let fwtraceVersion = "X.Y.Z"` on one line.
public let fwtraceVersion = "0.1.0"
