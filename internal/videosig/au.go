package videosig

// AccessUnits groups a stream's NAL units into access units (pictures):
// a new unit begins at an access unit delimiter, at parameter sets or SEI
// after a picture's slices, or at the first slice of a new picture.
func AccessUnits(codec Codec, nalus [][]byte) [][][]byte {
	var out [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range nalus {
		if len(n) < headerLen(codec)+1 {
			continue
		}
		if startsAU(codec, n, hasVCL) && len(cur) > 0 {
			out = append(out, cur)
			cur, hasVCL = nil, false
		}
		cur = append(cur, n)
		if IsVCL(codec, n) {
			hasVCL = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func startsAU(codec Codec, n []byte, hasVCL bool) bool {
	t := nalType(codec, n)
	if codec == H265 {
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
