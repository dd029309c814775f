package bitstream

import "errors"

// ErrTooLarge: a Reader met an access unit, or a NAL unit still arriving,
// above its limit.
var ErrTooLarge = errors.New("access unit too large")
