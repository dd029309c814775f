package record

// SetPlaintext makes the archive store segments unsealed: benchmarks
// only, to measure what sealing costs.
func SetPlaintext(a *Archive, on bool) { a.plaintext = on }
