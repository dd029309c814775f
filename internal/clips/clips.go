// Package clips holds the video clips built into camvault: simulated
// cameras and the demo play them, and tests use them. They are synthetic
// (ffmpeg's testsrc2 with the time and frame number drawn in), every GOP
// starts with a keyframe, and there are no B-frames.
package clips

import _ "embed"

// PorchH264 is 10 s of 640x360 H.264 (Constrained Baseline) at 15 fps,
// Annex-B, one keyframe every 30 frames.
//
//go:embed porch-640x360-15fps-h264.h264
var PorchH264 []byte

// PorchFirstFrame is a JPEG of PorchH264's first frame.
//
//go:embed porch-640x360-first-frame.jpg
var PorchFirstFrame []byte

// GardenH265 is 10 s of 640x360 H.265 (Main) at 15 fps, Annex-B, one
// keyframe every 30 frames.
//
//go:embed garden-640x360-15fps-h265.h265
var GardenH265 []byte

// FPS is the clips' frame rate.
const FPS = 15
