package bitstream

// AccessUnits groups a stream's NAL units into access units (pictures):
// a new unit begins at an access unit delimiter, at parameter sets or SEI
// after a picture's slices, or at the first slice of a new picture. NAL
// units too short to carry more than a header are dropped.
func AccessUnits(c Codec, nalus [][]byte) [][][]byte {
	var out [][][]byte
	g := grouper{codec: c}
	for _, n := range nalus {
		if au := g.add(n); au != nil {
			out = append(out, au)
		}
	}
	if au := g.flush(); au != nil {
		out = append(out, au)
	}
	return out
}

// grouper gathers NAL units, one at a time, into access units. Both
// AccessUnits and Reader use it, so that a stream read piece by piece is
// grouped exactly like a whole one.
type grouper struct {
	codec  Codec
	cur    [][]byte // the access unit being gathered
	hasVCL bool     // it holds a slice
}

// keeps reports whether n is long enough to be kept: a header and one
// byte.
func (g *grouper) keeps(n []byte) bool { return len(n) >= HeaderLen(g.codec)+1 }

// splits reports whether n, a unit that keeps holds, begins a new access
// unit after the one being gathered.
func (g *grouper) splits(n []byte) bool { return len(g.cur) > 0 && startsAU(g.codec, n, g.hasVCL) }

// add takes the next NAL unit and returns the access unit it completes,
// if it begins a new one.
func (g *grouper) add(n []byte) [][]byte {
	if !g.keeps(n) {
		return nil
	}
	var done [][]byte
	if g.splits(n) {
		done = g.flush()
	}
	g.cur = append(g.cur, n)
	if IsVCL(g.codec, n) {
		g.hasVCL = true
	}
	return done
}

// flush returns the access unit being gathered, if any, and starts anew.
func (g *grouper) flush() [][]byte {
	au := g.cur
	g.cur, g.hasVCL = nil, false
	return au
}

// startsAU reports whether n begins a new access unit after one that
// holds a slice (hasVCL) or does not. n is at least a header and a byte.
func startsAU(c Codec, n []byte, hasVCL bool) bool {
	t := Type(c, n)
	if c == H265 {
		switch {
		case t == 35: // AUD
			return true
		case t >= 32 && t <= 34, t == 39: // VPS, SPS, PPS, prefix SEI
			return hasVCL
		case t <= 31: // slice: first_slice_segment_in_pic_flag
			return hasVCL && n[2]&0x80 != 0
		}
		return false
	}
	switch {
	case t == 9: // AUD
		return true
	case t == 6, t == 7, t == 8:
		return hasVCL
	case t >= 1 && t <= 5: // slice: first_mb_in_slice == 0
		return hasVCL && n[1]&0x80 != 0
	}
	return false
}
