package media

import (
	"errors"
	"github.com/camvault/camvault/internal/authz"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

func sized(origin domain.CameraRef, i, size int, key bool) *AccessUnit {
	b := make([]byte, size)
	b[0] = 0x41
	if key {
		b[0] = 0x65
	}
	return &AccessUnit{Origin: origin, PTS: time.Duration(i) * time.Second / 15, Key: key, NALUs: [][]byte{b}}
}

// TestReaderByteBudget: a reader that does not read holds at most
// QueueBytes; beyond that it drops to the next keyframe (counted).
func TestReaderByteBudget(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Observer: rec, QueueBytes: 100 << 10, GOPBytes: 50 << 10})
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	r, err := h.AddReader(grant(t, camA, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := p.Write(sized(camA.Ref(), i, 10<<10, i%20 == 0)); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		held := r.qBytes
		r.mu.Unlock()
		if held > 100<<10 {
			t.Fatalf("after unit %d the reader holds %d bytes", i, held)
		}
	}
	if rec.dropped.Load() == 0 {
		t.Fatal("nothing was dropped")
	}
	// After the next keyframe the reader goes on from it.
	p.Write(sized(camA.Ref(), 40, 10<<10, true))
	if au := read(t, r); !au.Key {
		t.Fatal("after dropping, the reader resumed mid-GOP")
	}
}

// TestGOPByteBudget: a GOP longer than GOPBytes is not kept; a new reader
// then starts at the next keyframe instead of mid-GOP.
func TestGOPByteBudget(t *testing.T) {
	h := New(Config{GOPBytes: 50 << 10, QueueBytes: 1 << 20})
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	for i := range 10 {
		p.Write(sized(camA.Ref(), i, 10<<10, i == 0))
	}
	h.streams[camA.Ref()].mu.Lock()
	n, size := len(h.streams[camA.Ref()].gop), h.streams[camA.Ref()].gopBytes
	h.streams[camA.Ref()].mu.Unlock()
	if n != 0 || size != 0 {
		t.Fatalf("a GOP over the budget is kept: %d units, %d bytes", n, size)
	}
	r, _ := h.AddReader(grant(t, camA, time.Now()))
	p.Write(sized(camA.Ref(), 10, 10<<10, false)) // not a start
	p.Write(sized(camA.Ref(), 11, 10<<10, true))
	if au := read(t, r); !au.Key || au.PTS != 11*time.Second/15 {
		t.Fatalf("a new reader started with %+v, want the next keyframe", au)
	}
}

// TestBitrateCap: a publisher sending above the cap is closed with
// ErrBitrate, observed, and its stream takes nothing more from it.
func TestBitrateCap(t *testing.T) {
	rec := &recorder{}
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	h := New(Config{Observer: rec, MaxBitrate: 8_000_000, BitrateWindow: time.Second, Now: clock}) // 1 MB/s
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	// 0.5 MB a second for three seconds is fine.
	for s := range 3 {
		for i := range 5 {
			if err := p.Write(sized(camA.Ref(), i, 100<<10, i == 0)); err != nil {
				t.Fatalf("second %d: %v", s, err)
			}
		}
		now = now.Add(time.Second)
	}
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = p.Write(sized(camA.Ref(), i, 100<<10, i == 0))
	}
	if !errors.Is(err, ErrBitrate) || rec.overrate.Load() != 1 {
		t.Fatalf("2 MB in a second: %v, %d observed", err, rec.overrate.Load())
	}
	if err := p.Write(sized(camA.Ref(), 0, 10, true)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a capped publisher wrote on: %v", err)
	}
}

// TestPrimeAndKeyframe: priming a stream asks for it without a reader and
// lets it go after the linger; its keyframe is there for a snapshot, to a
// grant that allows snapshots of that camera and to no other.
func TestPrimeAndKeyframe(t *testing.T) {
	d := &demand{}
	h := New(Config{Demand: d, Linger: 50 * time.Millisecond})
	gA := grant(t, camA, time.Now())
	if _, _, ok := h.Keyframe(gA); ok {
		t.Fatal("a keyframe of a stream that never ran")
	}
	// A grant that does not carry snapshots primes nothing.
	claimed := camA
	claimed.State = domain.CameraStateClaimed
	rec, dec := authz.AuthorizeRecording(claimed, domain.RecordingSettings{CameraID: camA.ID, Mode: domain.RecordContinuous}, time.Now())
	if !dec.Allowed {
		t.Fatalf("recorder grant: %+v", dec)
	}
	h.Prime(rec)
	if got := d.list(); len(got) != 0 {
		t.Fatalf("a grant without snapshots primed the stream: %v", got)
	}
	h.Prime(gA)
	p := h.Publish(camA.Ref(), Track{Codec: H264, SPS: []byte{0x67}})
	p.Write(unit(camA.Ref(), 0, true))
	p.Write(unit(camA.Ref(), 1, false))
	tr, au, ok := h.Keyframe(gA)
	if !ok || !au.Key || len(tr.SPS) != 1 {
		t.Fatalf("keyframe: %v %+v %+v", ok, au, tr)
	}
	if _, _, ok := h.Keyframe(rec); ok {
		t.Fatal("a keyframe to a grant without snapshots")
	}
	if _, _, ok := h.Keyframe(grant(t, camB, time.Now())); ok {
		t.Fatal("another camera's keyframe")
	}
	if _, _, ok := h.Keyframe(authz.Grant{}); ok {
		t.Fatal("a keyframe to the zero grant")
	}
	time.Sleep(200 * time.Millisecond)
	if got := d.list(); len(got) != 2 || got[0] != "want "+string(camA.ID) || got[1] != "release "+string(camA.ID) {
		t.Fatalf("demand: %v", got)
	}
}
