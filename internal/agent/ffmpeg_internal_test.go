package agent

import (
	"bytes"
	"context"
	"image/jpeg"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/ffmpeg"
)

// needFFmpeg skips the test when ffmpeg is not installed.
func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; install it (apt install ffmpeg) to test capture devices and snapshots")
	}
}

// ffmpegChildren returns the ffmpeg processes this test binary started
// that still exist.
func ffmpegChildren() []int { return ffmpeg.Children() }

// TestKeyframeCache: a kept keyframe stands for the camera's picture only
// for the generation it was pushed for, and only while it is fresh.
func TestKeyframeCache(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var c keyframeCache
	if _, ok := c.get(1, at); ok {
		t.Fatal("an empty cache gave a keyframe")
	}
	c.keep(bitstream.H264, 3, nil, []byte{0x67, 1}, []byte{0x68, 2}, [][]byte{{0x65, 3}}, at)
	tests := []struct {
		name string
		gen  int64
		now  time.Time
		ok   bool
	}{
		{"same generation, fresh", 3, at.Add(time.Second), true},
		{"same generation, at the limit", 3, at.Add(keyframeFresh), true},
		{"same generation, stale", 3, at.Add(keyframeFresh + time.Millisecond), false},
		{"later generation (a new owner)", 4, at.Add(time.Second), false},
		{"earlier generation", 2, at.Add(time.Second), false},
		{"clock went back", 3, at.Add(-time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := c.get(tt.gen, tt.now); ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
		})
	}
}

// TestKeyframeAnnexB: parameter sets from the stream's description go
// before a keyframe that lacks them, and only then.
func TestKeyframeAnnexB(t *testing.T) {
	params := [][]byte{{0x67, 1}, {0x68, 2}}
	bare := keyframe{codec: bitstream.H264, params: params, au: [][]byte{{0x65, 3}}}
	if got, want := bare.annexB(), []byte("\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x68\x02\x00\x00\x00\x01\x65\x03"); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	own := keyframe{codec: bitstream.H264, params: params, au: [][]byte{{0x67, 9}, {0x68, 9}, {0x65, 3}}}
	if got, want := own.annexB(), []byte("\x00\x00\x00\x01\x67\x09\x00\x00\x00\x01\x68\x09\x00\x00\x00\x01\x65\x03"); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestStderrTail(t *testing.T) {
	var tail stderrTail
	for i := range 20 {
		tail.Write([]byte("line " + strconv.Itoa(i) + "\r\n"))
	}
	tail.Write([]byte("rtsp://admin:hunter2@cam/x: " + strings.Repeat("y", 1000) + "\nlast"))
	s := tail.String()
	if strings.Count(s, "\n") != tailLines || strings.Contains(s, "line 12") || !strings.Contains(s, "line 13") {
		t.Fatalf("kept:\n%s", s)
	}
	if strings.Contains(s, "hunter2") || !strings.Contains(s, "rtsp://admin:xxxxx@cam/x") {
		t.Fatalf("a password was kept:\n%s", s)
	}
	if len(s) > (tailLines+1)*(tailLineSize+1) || tail.last() != "last" {
		t.Fatalf("%d bytes kept, last line %q", len(s), tail.last())
	}
}

// TestJPEGOf: ffmpeg pictures a keyframe of either codec; what is not
// video is an error.
func TestJPEGOf(t *testing.T) {
	needFFmpeg(t)
	ffmpeg, _ := exec.LookPath("ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name  string
		codec bitstream.Codec
		data  []byte
	}{
		{"H.264", bitstream.H264, clips.PorchH264},
		{"H.265", bitstream.H265, clips.GardenH265},
	} {
		t.Run(tt.name, func(t *testing.T) {
			au := bitstream.AccessUnits(tt.codec, bitstream.SplitAnnexB(tt.data))[0]
			b, err := jpegOf(ctx, ffmpeg, keyframe{codec: tt.codec, au: au})
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got.X != 640 || got.Y != 360 {
				t.Fatalf("picture of %v", got)
			}
		})
	}
	if _, err := jpegOf(ctx, ffmpeg, keyframe{codec: bitstream.H264, au: [][]byte{[]byte("\x65not a slice at all")}}); err == nil {
		t.Fatal("a broken keyframe made a picture")
	}
}
