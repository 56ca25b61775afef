import FWTraceFuzz
// libFuzzer entry of the nflog-decoder target: the input is one nfnetlink_log datagram.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.nflogDecoder(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
