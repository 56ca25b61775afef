import FWTraceFuzz
import Foundation

// libFuzzer entry of the pipeline target: the input is a PipelineInput (world byte, then
// length-prefixed datagrams). The worlds are read once, from the captured fixtures in
// $FWTRACE_FUZZ_FIXTURES (default: the repository's, relative to the working directory).
nonisolated(unsafe) let worlds: [FuzzWorld] = {
    let directory = ProcessInfo.processInfo.environment["FWTRACE_FUZZ_FIXTURES"] ?? "Tests/FWTraceCoreTests/Fixtures"
    let native = try? String(contentsOfFile: directory + "/kernel-6.18-nft-native-rich.ruleset.json", encoding: .utf8)
    let loaded = FuzzWorld.load(directory: directory, native: native)
    if loaded.isEmpty { fatalError("no captured fixtures (*.hex) in \(directory): set FWTRACE_FUZZ_FIXTURES") }
    return loaded
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.pipeline(Array(UnsafeBufferPointer(start: data, count: size)), worlds: worlds)
    return 0
}
