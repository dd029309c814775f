package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/media"
	"github.com/camvault/camvault/internal/service"
)

// TestIsolationUnderChurn: cameras in several homes, viewers connecting
// and leaving at random, agents dropping and reconnecting, and one camera
// factory reset and claimed by another home mid-run. No viewer ever gets a
// frame of a camera (or generation) other than the one its grant names.
// CAMVAULT_TEST_CHURN_FULL=1 runs the full size: 20 cameras in 10 homes,
// 100 viewers, 60 s.
func TestIsolationUnderChurn(t *testing.T) {
	cams, homes, viewers, dur := 6, 3, 24, 12*time.Second
	if os.Getenv("CAMVAULT_TEST_CHURN_FULL") != "" {
		cams, homes, viewers, dur = 20, 10, 100, 60*time.Second
	}
	s := startServer(t, nil)
	first := s.setup("owner0@example.org", "Home 0")
	type home struct {
		owner  owner
		caller service.Caller
	}
	ctx := context.Background()
	hs := make([]home, homes)
	for i := range homes {
		o := first
		if i > 0 {
			o = s.signup(fmt.Sprintf("owner%d@example.org", i), fmt.Sprintf("Home %d", i))
		}
		c, err := s.parts.Service.Authenticate(ctx, o.token, "127.0.0.1", "churn")
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = home{owner: o, caller: c}
	}
	type camera struct {
		mu   sync.Mutex // guards the fields below
		dir  string
		id   string
		home int
		stop func()
	}
	cs := make([]*camera, cams)
	for i := range cams {
		c := &camera{dir: filepath.Join(t.TempDir(), "cam"), home: i % homes}
		ag, stop := runAgentSource(t, s, c.dir, "builtin:porch")
		o := hs[c.home].owner
		c.id = s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": fmt.Sprint("cam ", i)}, 201)["id"].(string)
		c.stop = stop
		cs[i] = c
	}

	runCtx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var checked, opened, revoked atomic.Int64
	var wg sync.WaitGroup
	for v := range viewers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(v), 7))
			for runCtx.Err() == nil {
				c := cs[rng.IntN(len(cs))]
				c.mu.Lock()
				id, h := c.id, c.home
				c.mu.Unlock()
				r, err := s.openLive(runCtx, hs[h].caller, domain.ID(id))
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the camera changed hands meanwhile
					continue
				}
				opened.Add(1)
				want := r.Grant().Camera()
				if string(want.Camera) != id {
					t.Errorf("grant for %s when %s was asked", want.Camera, id)
				}
				rctx, rcancel := context.WithTimeout(runCtx, time.Duration(100+rng.IntN(700))*time.Millisecond)
				for {
					au, err := r.Read(rctx)
					if errors.Is(err, media.ErrRevoked) {
						revoked.Add(1)
						break
					}
					if err != nil {
						if errors.Is(err, media.ErrProvenance) {
							t.Errorf("provenance violation reached a reader")
						}
						break
					}
					if au.Origin != want {
						t.Errorf("viewer of %+v got a frame of %+v", want, au.Origin)
					}
					checked.Add(1)
				}
				rcancel()
				r.Close()
			}
		})
	}
	// Agents drop and reconnect.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for runCtx.Err() == nil {
			time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
			c := cs[1+rng.IntN(len(cs)-1)] // camera 0 is reset below
			c.mu.Lock()
			c.stop()
			_, c.stop = runAgentSource(t, s, c.dir, "builtin:porch")
			c.mu.Unlock()
		}
	})
	// Mid-run, camera 0 is factory reset and claimed by the next home.
	wg.Go(func() {
		select {
		case <-runCtx.Done():
			return
		case <-time.After(dur / 2):
		}
		c := cs[0]
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stop()
		if _, err := agent.Reset(ctx, c.dir, nil); err != nil {
			t.Errorf("reset: %v", err)
			return
		}
		ag, stop := runAgentSource(t, s, c.dir, "builtin:porch")
		next := (c.home + 1) % homes
		o := hs[next].owner
		c.id = s.must(o.token, "POST", "/api/v1/homes/"+o.home+"/cameras/claim", map[string]any{"claim_code": claimCode(t, ag), "name": "second-hand"}, 201)["id"].(string)
		c.home, c.stop = next, stop
	})
	wg.Wait()
	if v := s.metric("camvault_media_provenance_violations_total"); v != "0" {
		t.Fatalf("provenance violations: %s", v)
	}
	if checked.Load() < 1000 {
		t.Fatalf("only %d frames checked", checked.Load())
	}
	t.Logf("%d cameras in %d homes, %d viewers for %v: %d views opened, %d frames checked, %d views revoked, 0 frames without a grant on their origin",
		cams, homes, viewers, dur, opened.Load(), checked.Load(), revoked.Load())
}
