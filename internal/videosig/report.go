package videosig

import (
	"fmt"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/domain"
)

// Span is a run of GOPs that verified under one camera and generation.
type Span struct {
	Camera     domain.ID
	Generation int64
	FirstSeq   uint64
	LastSeq    uint64
	From, To   time.Time // capture times of the first and last GOP
	GOPs       int
	Frames     int
}

// Problem is something wrong in the stream: where, and what.
type Problem struct {
	AccessUnit int
	Err        error
}

func (p Problem) String() string { return fmt.Sprintf("access unit %d: %v", p.AccessUnit, p.Err) }

// Report checks a whole Annex-B stream (a capture or an export) signed with
// keyDER. It reports the verified spans and every problem: a tampered or
// missing GOP ends a span, and checking resumes at the next signature. The
// last GOP is never confirmed (its signature would ride on the next one).
func Report(codec Codec, stream, keyDER []byte) ([]Span, []Problem, error) {
	aus := bitstream.AccessUnits(codec, bitstream.SplitAnnexB(stream))
	var spans []Span
	var problems []Problem
	var first *Claim
	for _, au := range aus {
		if c, ok := firstClaim(codec, au); ok {
			first = &c
			break
		}
	}
	if first == nil {
		return nil, []Problem{{AccessUnit: -1, Err: ErrUnsigned}}, nil
	}
	newVerifier := func() (*Verifier, error) { return NewVerifier(codec, keyDER, first.Camera, first.Generation) }
	v, err := newVerifier()
	if err != nil {
		return nil, nil, err
	}
	var cur *Span
	for i, au := range aus {
		c, err := v.Push(au)
		if err != nil {
			problems = append(problems, Problem{AccessUnit: i, Err: err})
			if cur != nil {
				spans = append(spans, *cur)
				cur = nil
			}
			// Start over from this unit: its signature may open the
			// next verified span.
			v, _ = newVerifier()
			if _, err := v.Push(au); err != nil {
				v, _ = newVerifier()
			}
			continue
		}
		if c == nil {
			continue
		}
		if cur == nil {
			cur = &Span{Camera: c.Camera, Generation: c.Generation, FirstSeq: c.Seq, From: c.Capture}
		}
		cur.LastSeq, cur.To = c.Seq, c.Capture
		cur.GOPs++
		cur.Frames += int(c.Frames)
	}
	if cur != nil {
		spans = append(spans, *cur)
	}
	if len(spans) == 0 && len(problems) == 0 {
		problems = append(problems, Problem{AccessUnit: -1, Err: ErrUnsigned})
	}
	return spans, problems, nil
}

func firstClaim(codec Codec, au [][]byte) (Claim, bool) {
	for _, n := range au {
		if c, ok, err := FindClaim(codec, n); ok && err == nil {
			return c, true
		}
	}
	return Claim{}, false
}
