package console

// DecodeTracesForTest exposes decodeTraces to the external tests.
var DecodeTracesForTest = decodeTraces
