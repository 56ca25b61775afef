import FWTraceFuzz
// libFuzzer entry of the metrics-request target: the input is what a client of the daemon's
// metrics listener sent (the head of an HTTP request, or anything else).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.metricsRequest(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
