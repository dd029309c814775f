// Package s3test starts a real S3-compatible server for tests: versitygw
// with its posix backend in a temporary directory, on a free loopback
// port. Tests that need it skip, saying why, when the versitygw binary is
// not there (CAMVAULT_TEST_VERSITYGW names it, else it is looked up on
// PATH and in the Go bin directory).
//
//	cfg := s3test.Start(t) // a fresh bucket on a server of its own
//	st, err := s3.Open(ctx, cfg)
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/blob/s3"
)

// Binary finds the versitygw binary; empty if there is none.
func Binary() string {
	if p := os.Getenv("CAMVAULT_TEST_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(os.Getenv("HOME"), "go", "bin")} {
		if dir == "" || dir == "bin" {
			continue
		}
		p := filepath.Join(dir, "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Server is a running versitygw.
type Server struct {
	Endpoint             string // host:port
	AccessKey, SecretKey string
}

// Start starts a server for t (stopped when t ends) and returns the
// config of a new, empty bucket on it. It skips t when versitygw is not
// installed.
func Start(t testing.TB) s3.Config {
	t.Helper()
	srv := Run(t)
	b := make([]byte, 6)
	rand.Read(b)
	return s3.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: "t-" + hex.EncodeToString(b), CreateBucket: true}
}

// Run starts a server for t, stopped and removed when t ends.
func Run(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or set CAMVAULT_TEST_VERSITYGW): S3 tests skipped")
	}
	srv, stop, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}

// start runs versitygw on a free port. Another process may take the port
// between choosing and binding it: then versitygw exits and start tries
// another.
func start(bin, dir string) (*Server, func(), error) {
	key := make([]byte, 16)
	rand.Read(key)
	access, secret := "camvault"+hex.EncodeToString(key[:4]), hex.EncodeToString(key)
	var lastErr error
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		addr := l.Addr().String()
		l.Close()
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, nil, err
		}
		var out strings.Builder
		cmd := exec.Command(bin, "--port", addr, "posix", data)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+access, "ROOT_SECRET_KEY="+secret)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitListening(addr, exited); err != nil {
			cmd.Process.Kill()
			lastErr = fmt.Errorf("versitygw on %s: %v: %s", addr, err, out.String())
			continue
		}
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		return &Server{Endpoint: addr, AccessKey: access, SecretKey: secret}, stop, nil
	}
	return nil, nil, lastErr
}

// waitListening waits until addr accepts connections or the process exits.
func waitListening(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
