//go:build !unix

package app

import "math"

// diskFree is not measured here: the free-space floor does not apply.
func diskFree(string) (int64, error) { return math.MaxInt64, nil }
