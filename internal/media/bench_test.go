package media

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanOut measures the hub's hot path: one publisher writing
// access units to N readers, each draining in its own goroutine with the
// provenance check on every unit. It reports delivered units per second.
func BenchmarkFanOut(b *testing.B) {
	for _, readers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			h := New(Config{Queue: 256, MaxBitrate: 1 << 40}) // the writer is not paced like a camera
			now := time.Now()
			p := h.Publish(camA.Ref(), Track{Codec: H264})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for range readers {
				r, err := h.AddReader(grant(b, camA, now))
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					n := 0
					for {
						if _, err := r.Read(ctx); err != nil {
							break
						}
						n++
					}
					mu.Lock()
					total += n
					mu.Unlock()
				})
			}
			payload := [][]byte{make([]byte, 4000)}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				p.Write(&AccessUnit{Origin: camA.Ref(), Key: i%30 == 0, NALUs: payload})
				// A camera does not outrun its viewers by much: pace
				// the writer so the figure is delivery, not drops.
				if i%32 == 31 {
					for h.queued() > readers*128 {
						runtime.Gosched()
					}
				}
			}
			// Let readers drain what is queued.
			for h.queued() > 0 {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(total)/elapsed.Seconds(), "units/s")
			b.ReportMetric(float64(b.N*readers-total)/float64(b.N*readers)*100, "%dropped")
		})
	}
}

// BenchmarkReaderCheck measures the provenance guard alone.
func BenchmarkReaderCheck(b *testing.B) {
	h := New(Config{})
	r, _ := h.AddReader(grant(b, camA, time.Now()))
	au := &AccessUnit{Origin: camA.Ref()}
	b.ResetTimer()
	for b.Loop() {
		if err := r.check(au); err != nil {
			b.Fatal(err)
		}
	}
}

// queued counts units waiting in readers' queues.
func (h *Hub) queued() int {
	n := 0
	for _, s := range h.snapshot() {
		s.mu.Lock()
		for r := range s.readers {
			r.mu.Lock()
			n += r.q.n
			r.mu.Unlock()
		}
		s.mu.Unlock()
	}
	return n
}
