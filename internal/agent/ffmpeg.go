package agent

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"sync"
)

// ffmpeg is an optional helper: capture devices are read through it, and
// snapshots of sources without a picture of their own are decoded by it.
// It runs as a child process (never through a shell), found on PATH.

// Errors of the ffmpeg-backed parts.
var (
	// errNoFFmpeg: ffmpeg is not installed (not on PATH).
	errNoFFmpeg = errors.New("ffmpeg not installed")
	// errNoKeyframe: the source gave no keyframe in time.
	errNoKeyframe = errors.New("no keyframe from the source in time")
	// errSnapshotTooLarge: ffmpeg's picture is above maxSnapshotBytes.
	errSnapshotTooLarge = errors.New("snapshot too large")
)

// lookFFmpeg returns the path of ffmpeg, or errNoFFmpeg.
func lookFFmpeg() (string, error) {
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", errNoFFmpeg
	}
	return p, nil
}

// Bounds of the stderr kept from an ffmpeg run.
const (
	tailLines    = 8
	tailLineSize = 300
)

// stderrTail keeps the last lines an ffmpeg process wrote to stderr, to be
// logged if the process fails; everything else is dropped as it comes.
type stderrTail struct {
	mu      sync.Mutex // guards the following
	partial []byte     // the line being written
	lines   []string   // the last complete lines, oldest first
}

// Write implements io.Writer; it never fails.
func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			room := max(0, tailLineSize-len(t.partial))
			t.partial = append(t.partial, p[:min(room, len(p))]...)
			break
		}
		room := max(0, tailLineSize-len(t.partial))
		t.partial = append(t.partial, p[:min(room, i)]...)
		t.endLineLocked()
		p = p[i+1:]
	}
	return n, nil
}

func (t *stderrTail) endLineLocked() {
	line := strings.TrimSpace(string(t.partial))
	t.partial = t.partial[:0]
	if line == "" {
		return
	}
	if len(t.lines) == tailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:tailLines-1]
	}
	t.lines = append(t.lines, redactURLs(line))
}

// String returns the kept lines, oldest first, one per line.
func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if s := strings.TrimSpace(string(t.partial)); s != "" {
		lines = append(lines[:len(lines):len(lines)], redactURLs(s))
	}
	return strings.Join(lines, "\n")
}

// last returns the last kept line.
func (t *stderrTail) last() string {
	s := t.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// lastWords is ": " and the last line ffmpeg wrote, or nothing.
func lastWords(t *stderrTail) string {
	if l := t.last(); l != "" {
		return ": " + l
	}
	return ""
}

// urlPassword matches the password of a URL's user info.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]*@`)

// redactURLs hides the passwords of URLs in a line of text (ffmpeg names
// its inputs in its messages).
func redactURLs(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}xxxxx@")
}
