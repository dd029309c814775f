package agent

import (
	"testing"
	"time"
)

// TestMotionDetector: steady predicted pictures are no motion; a burst
// well above their average is, once per hold time; keyframes never are.
func TestMotionDetector(t *testing.T) {
	d := motionDetector{Factor: 3, MinBytes: 512, Hold: 2 * time.Second}
	now := time.Now()
	frame := func(size int, key bool) int {
		now = now.Add(time.Second / 15)
		return d.frame(size, key, now)
	}
	for i := range 300 {
		if s := frame(1000+(i%7)*50, i%30 == 0); s != 0 {
			t.Fatalf("steady scene reported motion at picture %d", i)
		}
	}
	if frame(60000, true) != 0 {
		t.Fatal("a keyframe counted as motion")
	}
	if s := frame(5000, false); s < 50 {
		t.Fatalf("a burst scored %d", s)
	}
	if frame(5000, false) != 0 {
		t.Fatal("a second report within the hold time")
	}
	for range 40 {
		frame(1000, false)
	}
	if frame(6000, false) == 0 {
		t.Fatal("motion after the hold time was not reported")
	}
	off := motionDetector{Factor: -1}
	for i := range 100 {
		if off.frame(100000*(i%2), false, now) != 0 {
			t.Fatal("a detector turned off reported motion")
		}
	}
}
