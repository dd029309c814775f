package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Source is where the agent's video comes from.
type Source struct {
	// Kind is "rtsp" (a LAN camera), "file" (a looping video file),
	// "device" (a capture device read through ffmpeg) or "builtin".
	Kind string
	// Location is the URL, the file path, or the device: a device path
	// (/dev/video0, read as V4L2) or FORMAT:INPUT, any ffmpeg input
	// (lavfi:testsrc2=size=640x360:rate=15).
	Location string
}

// ParseSource reads a --source value: an rtsp:// or rtsps:// URL, a file
// ("file:PATH" or a path to a regular file), a capture device
// ("device:/dev/video0" or a /dev/ path; "device:FORMAT:INPUT" for any
// ffmpeg input, such as "device:lavfi:testsrc2"), or "builtin:porch", the
// clip built into camvault.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Source{}, errors.New("no source: give --source rtsp://…, file:PATH or device:/dev/videoN")
	case strings.HasPrefix(s, "rtsp://"), strings.HasPrefix(s, "rtsps://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Source{}, fmt.Errorf("source: %q is not an RTSP URL", redactSource(s))
		}
		return Source{Kind: "rtsp", Location: s}, nil
	case s == "builtin:porch" || s == "builtin":
		return Source{Kind: "builtin", Location: "porch"}, nil
	case strings.HasPrefix(s, "device:"), strings.HasPrefix(s, "/dev/"):
		spec := strings.TrimPrefix(s, "device:")
		if _, _, err := deviceInput(spec); err != nil {
			return Source{}, err
		}
		return Source{Kind: "device", Location: spec}, nil
	case strings.HasPrefix(s, "file:"):
		return Source{Kind: "file", Location: strings.TrimPrefix(s, "file:")}, nil
	case strings.Contains(s, "://"):
		return Source{}, fmt.Errorf("source: scheme of %q not supported; use rtsp://, rtsps://, file: or device:", redactSource(s))
	}
	return Source{Kind: "file", Location: s}, nil
}

// String names the source without any credentials it carries.
func (s Source) String() string { return s.Kind + " " + redactSource(s.Location) }

// redactSource hides a URL's password.
func redactSource(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Health checks that the source can be used: "ok" or a short reason.
func (s Source) Health(ctx context.Context) string {
	switch s.Kind {
	case "file":
		fi, err := os.Stat(s.Location)
		switch {
		case err != nil:
			return "file not readable"
		case !fi.Mode().IsRegular():
			return "not a regular file"
		}
		f, err := os.Open(s.Location)
		if err != nil {
			return "file not readable"
		}
		f.Close()
		return "ok"
	case "device":
		format, input, err := deviceInput(s.Location)
		if err != nil {
			return "bad device"
		}
		if format == "v4l2" {
			if _, err := os.Stat(input); err != nil {
				return "capture device not present"
			}
		}
		if _, err := lookFFmpeg(); err != nil {
			return "ffmpeg not installed (needed for capture devices)"
		}
		return "ok"
	case "builtin":
		return "ok"
	case "rtsp":
		u, _ := url.Parse(s.Location)
		host := u.Host
		if u.Port() == "" {
			port := "554"
			if u.Scheme == "rtsps" {
				port = "322"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return "camera unreachable"
		}
		c.Close()
		return "ok"
	}
	return "unknown source"
}
