package record_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/recordtest"
)

// camBitrate is the stream the benchmark records: 2 Mbit/s at 15 fps.
const (
	camBitrate = 2_000_000
	camFPS     = 15
)

// stream2M is a 2 Mbit/s H.264 stream: the clip's parameter sets, then
// pictures of the right size (a keyframe every 2 s).
func stream2M(frames int) (media.Track, []*media.AccessUnit) {
	tr, _ := recordtest.Units(time.Second)
	size := camBitrate / 8 / camFPS
	out := make([]*media.AccessUnit, frames)
	for i := range out {
		key := i%(2*camFPS) == 0
		nal := make([]byte, size)
		rand.Read(nal)
		nal[0] = 0x41 // non-IDR slice
		nalus := [][]byte{nal}
		if key {
			nal[0] = 0x65 // IDR slice
			nalus = [][]byte{tr.SPS, tr.PPS, nal}
		}
		out[i] = &media.AccessUnit{PTS: time.Duration(i) * time.Second / camFPS, Key: key, NALUs: nalus}
	}
	return tr, out
}

// BenchmarkRecording measures recording throughput — segmenting into
// fMP4, sealing (or not) and storing on local disk with fsync — and
// reports it as how many 2 Mbit/s cameras one core keeps up with.
// Compare the two: go test -bench Recording ./internal/record
func BenchmarkRecording(b *testing.B) {
	for _, sealed := range []bool{true, false} {
		b.Run(fmt.Sprintf("sealed=%v", sealed), func(b *testing.B) {
			r := newRig(b)
			record.SetPlaintext(r.ar, !sealed)
			tr, aus := stream2M(60 * camFPS)
			start := time.Now()
			seg := record.Segmenter{Now: func() time.Time { return start }}
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				au := aus[i%len(aus)]
				// Keep presentation times increasing across loops.
				unit := *au
				unit.PTS = time.Duration(i) * time.Second / camFPS
				p, err := seg.Push(tr, &unit)
				if err != nil {
					b.Fatal(err)
				}
				bytes += int64(unit.Size())
				if p != nil {
					if _, err := r.ar.Write(ctx, cam, home, p); err != nil {
						b.Fatal(err)
					}
				}
			}
			secs := b.Elapsed().Seconds()
			b.SetBytes(int64(camBitrate / 8 / camFPS))
			b.ReportMetric(float64(bytes)/secs/(camBitrate/8), "cameras@2Mbit/s")
		})
	}
}
