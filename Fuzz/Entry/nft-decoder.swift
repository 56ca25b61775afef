import FWTraceFuzz
// libFuzzer entry of the nft-decoder target: the input is one NFNLGRP_NFTRACE datagram.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.nftDecoder(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
