package agent

import (
	"time"
)

// motionDetector finds motion in the encoded stream without decoding it:
// a still scene compresses into small predicted pictures, and movement
// makes them grow. A predicted picture well above the recent average is
// motion; reports are at least Hold apart.
type motionDetector struct {
	// Factor is how many times the average size a picture must reach;
	// MinBytes the least size that counts.
	Factor   float64
	MinBytes int
	Hold     time.Duration

	avg  float64
	seen int
	last time.Time
}

// warmup is how many predicted pictures set the first average.
const warmup = 30

// frame considers one picture and returns a score from 1 to 100 when it
// is motion, 0 otherwise.
func (d *motionDetector) frame(size int, key bool, now time.Time) int {
	if key || d.Factor <= 0 {
		return 0 // keyframes are large whatever the scene
	}
	score := 0
	if d.seen >= warmup && d.avg > 0 && float64(size) > d.Factor*d.avg && size >= d.MinBytes && now.Sub(d.last) >= d.Hold {
		d.last = now
		score = min(100, int(float64(size)/(d.Factor*d.avg)*50))
	}
	if d.seen < warmup {
		d.avg = (d.avg*float64(d.seen) + float64(size)) / float64(d.seen+1)
	} else {
		d.avg = 0.95*d.avg + 0.05*float64(size)
	}
	d.seen++
	return score
}

// Motion reports motion at at to the server, as the built-in detector
// does; a sensor wired to the camera (a PIR, a door contact) can call it
// too. It reports whether the report was queued: only a connected agent
// sends, and reports closer than a second are merged.
func (a *Agent) Motion(at time.Time, score int) bool {
	select {
	case a.motion <- motionReport{at: at, score: max(1, min(100, score))}:
		return true
	default:
		return false
	}
}

type motionReport struct {
	at    time.Time
	score int
}
