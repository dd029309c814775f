package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

var (
	homeA = domain.ID("homeaaaaaaaaaaaaaaaaaaaaaa")
	camA  = domain.Camera{ID: "camaaaaaaaaaaaaaaaaaaaaaaa", HomeID: homeA, Generation: 1}
	camB  = domain.Camera{ID: "cambbbbbbbbbbbbbbbbbbbbbbb", HomeID: homeA, Generation: 1}
)

// grant mints a real grant through the policy for an owner of home A.
func grant(t testing.TB, cam domain.Camera, now time.Time) authz.Grant {
	t.Helper()
	acct := domain.NewID()
	m := &domain.Membership{HomeID: homeA, AccountID: acct, Role: domain.RoleOwner}
	g, d := authz.Authorize(authz.Principal{Account: acct}, domain.ActionLive, authz.Resource{Home: homeA, Camera: &cam}, authz.Facts{Now: now, Membership: m})
	if !d.Allowed {
		t.Fatalf("grant: %+v", d)
	}
	return g
}

// recorder is an Observer that counts.
type recorder struct {
	dropped, units, bytes atomic.Int64
	overrate              atomic.Int64
	mu                    sync.Mutex
	alarms                []Alarm
}

func (r *recorder) Overrate(domain.ID) { r.overrate.Add(1) }

func (r *recorder) Dropped(_ domain.ID, n int) { r.dropped.Add(int64(n)) }
func (r *recorder) Delivered(u, b int)         { r.units.Add(int64(u)); r.bytes.Add(int64(b)) }
func (r *recorder) Provenance(a Alarm) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alarms = append(r.alarms, a)
}

// demand records Want/Release calls.
type demand struct {
	mu     sync.Mutex
	events []string
}

func (d *demand) Want(c domain.CameraRef)    { d.add("want " + string(c.Camera)) }
func (d *demand) Release(c domain.CameraRef) { d.add("release " + string(c.Camera)) }
func (d *demand) add(s string)               { d.mu.Lock(); d.events = append(d.events, s); d.mu.Unlock() }
func (d *demand) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.events...)
}

func unit(origin domain.CameraRef, i int, key bool) *AccessUnit {
	return &AccessUnit{Origin: origin, PTS: time.Duration(i) * time.Second / 15, Key: key, NALUs: [][]byte{{0x65, byte(i)}}}
}

func read(t *testing.T, r *Reader) *AccessUnit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	au, err := r.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return au
}

func TestFanOutAndStartAtKeyframe(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Observer: rec})
	now := time.Now()
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	for i := range 5 {
		p.Write(unit(camA.Ref(), i, i == 0 || i == 3))
	}
	// A reader arriving mid-GOP starts at the GOP's keyframe (unit 3).
	r1, err := h.AddReader(grant(t, camA, now))
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := h.AddReader(grant(t, camA, now))
	for _, r := range []*Reader{r1, r2} {
		if au := read(t, r); !au.Key || au.NALUs[0][1] != 3 {
			t.Fatalf("first unit: %+v, want the keyframe 3", au)
		}
		read(t, r)
	}
	p.Write(unit(camA.Ref(), 5, false))
	for _, r := range []*Reader{r1, r2} {
		if au := read(t, r); au.NALUs[0][1] != 5 {
			t.Fatalf("live unit: %v", au.NALUs)
		}
	}
	if st := h.Stats(); st.Publishers != 1 || st.Readers != 2 {
		t.Fatalf("stats %+v", st)
	}
	if rec.units.Load() != 6 {
		t.Fatalf("delivered %d units", rec.units.Load())
	}
}

// TestSlowReaderDropsNotStalls: a reader that never reads loses frames
// (counted) while the publisher and a fast reader go on; it resumes at a
// keyframe.
func TestSlowReaderDropsNotStalls(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Observer: rec, Queue: 8})
	now := time.Now()
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	slow, _ := h.AddReader(grant(t, camA, now))
	fast, _ := h.AddReader(grant(t, camA, now))
	done := make(chan struct{})
	for i := range 100 {
		p.Write(unit(camA.Ref(), i, i%30 == 0))
		if au := read(t, fast); au.NALUs[0][1] != byte(i) {
			t.Fatalf("fast reader got %d at %d", au.NALUs[0][1], i)
		}
	}
	close(done)
	if slow.Dropped() == 0 || rec.dropped.Load() == 0 {
		t.Fatal("the slow reader dropped nothing")
	}
	// What the slow reader gets next starts at a keyframe.
	p.Write(unit(camA.Ref(), 100, false))
	p.Write(unit(camA.Ref(), 101, true))
	for {
		au := read(t, slow)
		if au.NALUs[0][1] == 100 {
			t.Fatal("the slow reader resumed mid-GOP")
		}
		if au.NALUs[0][1] == 101 {
			break
		}
	}
	t.Logf("slow reader dropped %d of 100 units", slow.Dropped())
}

// TestProvenanceGuard: a unit of another origin never reaches a reader;
// the reader is closed and an alarm raised.
func TestProvenanceGuard(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Observer: rec})
	now := time.Now()
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	r, _ := h.AddReader(grant(t, camA, now))
	// Through the publisher: refused at the door.
	if err := p.Write(unit(camB.Ref(), 0, true)); !errors.Is(err, ErrProvenance) {
		t.Fatalf("publisher took a foreign unit: %v", err)
	}
	// Past the door (a bug upstream): the reader's guard stops it.
	foreign := unit(camB.Ref(), 1, true)
	r.push(foreign, foreign.Size())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if au, err := r.Read(ctx); !errors.Is(err, ErrProvenance) || au != nil {
		t.Fatalf("read of a foreign unit: %v %v", au, err)
	}
	if _, err := r.Read(ctx); !errors.Is(err, ErrProvenance) {
		t.Fatalf("the reader stayed open: %v", err)
	}
	if len(rec.alarms) != 2 || rec.alarms[1].Got != camB.Ref() || rec.alarms[1].Grant != camA.Ref() {
		t.Fatalf("alarms %+v", rec.alarms)
	}
	// Another generation of the same camera is another origin.
	r2, _ := h.AddReader(grant(t, camA, now))
	next := camA.Ref()
	next.Generation++
	r2.push(unit(next, 2, true), 2)
	if _, err := r2.Read(ctx); !errors.Is(err, ErrProvenance) {
		t.Fatalf("a unit of the next generation reached a reader of the old: %v", err)
	}
}

func TestGrantChecks(t *testing.T) {
	now := time.Now()
	clock := now
	h := New(Config{Now: func() time.Time { return clock }})
	if _, err := h.AddReader(authz.Grant{}); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("zero grant: %v", err)
	}
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	r, _ := h.AddReader(grant(t, camA, now))
	clock = now.Add(authz.GrantTTL + time.Second)
	p.Write(unit(camA.Ref(), 0, true))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.Read(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("expired grant read: %v", err)
	}
}

// TestRevokeAndEndCamera: revocation closes matching readers at once; a
// generation bump ends the old generation's streams.
func TestRevokeAndEndCamera(t *testing.T) {
	h := New(Config{})
	now := time.Now()
	h.Publish(camA.Ref(), Track{Codec: H264})
	ga, gb := grant(t, camA, now), grant(t, camA, now)
	ra, _ := h.AddReader(ga)
	rb, _ := h.AddReader(gb)
	if n := h.Revoke(func(g authz.Grant) bool { return g.Principal() == ga.Principal() }); n != 1 {
		t.Fatalf("revoked %d", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := ra.Read(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked reader: %v", err)
	}
	if n := h.EndCamera(camA.ID, camA.Generation+1); n != 1 {
		t.Fatalf("ended %d readers", n)
	}
	if _, err := rb.Read(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("reader of the old generation: %v", err)
	}
	if st := h.Stats(); st.Publishers != 0 {
		t.Fatalf("publisher of the old generation survived: %+v", st)
	}
	// The ended generation never comes back: no reader, no publisher.
	if _, err := h.AddReader(grant(t, camA, now)); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("reader of an ended generation: %v", err)
	}
	if err := h.Publish(camA.Ref(), Track{Codec: H264}).Write(unit(camA.Ref(), 0, true)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publisher of an ended generation: %v", err)
	}
}

func TestOnDemand(t *testing.T) {
	d := &demand{}
	h := New(Config{Demand: d, Linger: 50 * time.Millisecond})
	now := time.Now()
	r1, _ := h.AddReader(grant(t, camA, now))
	r2, _ := h.AddReader(grant(t, camA, now))
	r1.Close()
	time.Sleep(100 * time.Millisecond)
	if got := d.list(); fmt.Sprint(got) != "[want "+string(camA.ID)+"]" {
		t.Fatalf("after one of two left: %v", got)
	}
	r2.Close()
	time.Sleep(150 * time.Millisecond)
	if got := d.list(); len(got) != 2 || got[1] != "release "+string(camA.ID) {
		t.Fatalf("after both left: %v", got)
	}
	// Coming back within the linger keeps the stream without a new Want.
	r3, _ := h.AddReader(grant(t, camA, now))
	r3.Close()
	r4, _ := h.AddReader(grant(t, camA, now))
	time.Sleep(100 * time.Millisecond)
	if got := d.list(); len(got) != 3 {
		t.Fatalf("re-join within linger: %v", got)
	}
	r4.Close()
}

// TestConcurrentChurn runs publishers and readers of several cameras at
// once under -race: every unit a reader gets is of its grant's origin.
func TestConcurrentChurn(t *testing.T) {
	rec := &recorder{}
	h := New(Config{Observer: rec, Queue: 16, Linger: time.Millisecond})
	now := time.Now()
	cams := []domain.Camera{camA, camB}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var checked atomic.Int64
	for _, c := range cams {
		wg.Go(func() {
			p := h.Publish(c.Ref(), Track{Codec: H264})
			for i := 0; ctx.Err() == nil; i++ {
				p.Write(unit(c.Ref(), i, i%15 == 0))
				time.Sleep(time.Millisecond)
			}
		})
		for range 8 {
			wg.Go(func() {
				for ctx.Err() == nil {
					r, err := h.AddReader(grant(t, c, now))
					if err != nil {
						continue
					}
					rctx, rcancel := context.WithTimeout(ctx, 30*time.Millisecond)
					for {
						au, err := r.Read(rctx)
						if err != nil {
							break
						}
						if au.Origin != c.Ref() {
							t.Errorf("reader of %s got a unit of %s", c.ID, au.Origin.Camera)
						}
						checked.Add(1)
					}
					rcancel()
					r.Close()
				}
			})
		}
	}
	wg.Wait()
	if len(rec.alarms) != 0 || checked.Load() == 0 {
		t.Fatalf("alarms %v, checked %d", rec.alarms, checked.Load())
	}
	t.Logf("%d units checked", checked.Load())
}

// TestRenewableReader: a renewable reader whose grant ran out delivers
// nothing and keeps its place, queueing what comes; renewed with a
// current grant of the same principal and generation, it delivers every
// unit it queued. Another principal's grant or another generation's does
// not renew it, and revocation still ends it.
func TestRenewableReader(t *testing.T) {
	clock := time.Now()
	h := New(Config{Now: func() time.Time { return clock }})
	cam := camA
	cam.State = domain.CameraStateClaimed
	set := domain.RecordingSettings{CameraID: cam.ID, Mode: domain.RecordContinuous}
	recGrant := func() authz.Grant {
		g, d := authz.AuthorizeRecording(cam, set, clock)
		if !d.Allowed {
			t.Fatalf("recording grant: %+v", d)
		}
		return g
	}
	p := h.Publish(cam.Ref(), Track{Codec: H264})
	r, err := h.AddReader(recGrant(), Renewable)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(unit(cam.Ref(), 0, true))
	read(t, r)
	clock = clock.Add(authz.GrantTTL + time.Second)
	for i := 1; i <= 3; i++ {
		p.Write(unit(cam.Ref(), i, false))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.Read(ctx); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired renewable reader: %v", err)
	}
	if err := r.Renew(grant(t, camA, clock)); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("renewed with another principal's grant: %v", err)
	}
	next := cam
	next.Generation++
	if g, d := authz.AuthorizeRecording(next, domain.RecordingSettings{CameraID: next.ID, Mode: domain.RecordContinuous}, clock); !d.Allowed || !errors.Is(r.Renew(g), ErrNoGrant) {
		t.Fatal("renewed with another generation's grant")
	}
	p.Write(unit(cam.Ref(), 4, false))
	if err := r.Renew(recGrant()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if au := read(t, r); au.PTS != unit(cam.Ref(), i, false).PTS {
			t.Fatalf("after renewal read %s, want unit %d", au.PTS, i)
		}
	}
	h.EndCamera(cam.ID, cam.Generation+1)
	if _, err := r.Read(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a renewable reader after the generation ended: %v", err)
	}
	if err := r.Renew(recGrant()); err == nil {
		t.Fatal("an ended reader was renewed")
	}
}

// TestMove: a camera served by another node now ends its viewers here
// with ErrMoved, every generation's, and leaves other cameras' viewers,
// the recorder's renewable reader and the stream itself.
func TestMove(t *testing.T) {
	h := New(Config{})
	now := time.Now()
	h.Publish(camA.Ref(), Track{Codec: H264})
	viewer, _ := h.AddReader(grant(t, camA, now))
	recorder, _ := h.AddReader(grant(t, camA, now), Renewable)
	other, _ := h.AddReader(grant(t, camB, now))
	if n := h.Move(camA.ID); n != 1 {
		t.Fatalf("moved %d readers, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := viewer.Read(ctx); !errors.Is(err, ErrMoved) {
		t.Fatalf("a viewer of the moved camera: %v, want ErrMoved", err)
	}
	h.Publish(camB.Ref(), Track{Codec: H264}).Write(unit(camB.Ref(), 0, true))
	read(t, other)
	p := h.Publish(camA.Ref(), Track{Codec: H264})
	p.Write(unit(camA.Ref(), 0, true))
	read(t, recorder)
	// The camera may come back: a new viewer plays.
	again, err := h.AddReader(grant(t, camA, now))
	if err != nil {
		t.Fatal(err)
	}
	p.Write(unit(camA.Ref(), 1, false))
	read(t, again)
}

// TestWarm: warming asks for a stream without a reader, once, and lets
// it go after the linger unless a reader came.
func TestWarm(t *testing.T) {
	d := &demand{}
	h := New(Config{Demand: d, Linger: 50 * time.Millisecond})
	h.Warm(camA.Ref())
	h.Warm(camA.Ref())
	if got := d.list(); fmt.Sprint(got) != "[want "+string(camA.ID)+"]" {
		t.Fatalf("after warming twice: %v", got)
	}
	if !h.Wanted(camA.Ref()) {
		t.Fatal("a warmed stream is not wanted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Wanted(camA.Ref()) {
		if time.Now().After(deadline) {
			t.Fatal("a warmed stream nobody read was not let go")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := d.list(); len(got) != 2 || got[1] != "release "+string(camA.ID) {
		t.Fatalf("after the linger: %v", got)
	}
	// A reader arriving within the linger keeps it.
	h.Warm(camB.Ref())
	r, _ := h.AddReader(grant(t, camB, time.Now()))
	time.Sleep(100 * time.Millisecond)
	if !h.Wanted(camB.Ref()) {
		t.Fatal("a warmed stream a reader joined was let go")
	}
	r.Close()
}

// TestNoStaleFramesAfterPublisherEnds: once a camera stops publishing,
// a viewer who comes later waits for the next publisher's track and
// frames; it is never handed the ended publisher's kept GOP as live
// (whose timestamps would also run backwards into the new ones).
func TestNoStaleFramesAfterPublisherEnds(t *testing.T) {
	h := New(Config{})
	now := time.Now()
	first, _ := h.AddReader(grant(t, camA, now))
	p := h.Publish(camA.Ref(), Track{Codec: H264, SPS: []byte{1}})
	for i := 40; i < 45; i++ {
		p.Write(unit(camA.Ref(), i, i == 40))
	}
	read(t, first)
	p.Close()
	first.Close()

	late, err := h.AddReader(grant(t, camA, now))
	if err != nil {
		t.Fatal(err)
	}
	if tr, ok := late.Track(); ok {
		t.Fatalf("a late viewer got the ended publisher's track %+v", tr)
	}
	next := h.Publish(camA.Ref(), Track{Codec: H264, SPS: []byte{2}})
	next.Write(unit(camA.Ref(), 0, true))
	if au := read(t, late); au.PTS != 0 {
		t.Fatalf("a late viewer's first frame is from %v, want the new publisher's first (0s)", au.PTS)
	}
	if tr, _ := late.Track(); len(tr.SPS) != 1 || tr.SPS[0] != 2 {
		t.Fatalf("a late viewer's track %+v, want the new publisher's", tr)
	}
}
