package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/blob/s3"
	"github.com/camvault/camvault/internal/blob/s3/s3test"
	"github.com/camvault/camvault/internal/config"
)

// TestRecordingToS3: with blob.s3 configured, a recording camera's segments
// go to the bucket, sealed (the clip's bytes are not in any object), none
// lands on local disk, and playback reads them back.
func TestRecordingToS3(t *testing.T) {
	bucket := s3test.Start(t)
	ctx := context.Background()
	if _, err := s3.Open(ctx, bucket); err != nil { // creates the bucket
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "s3-secret")
	if err := os.WriteFile(secret, []byte(bucket.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, func(c *config.Config) {
		c.Blob.S3 = config.S3{Endpoint: bucket.Endpoint, Bucket: bucket.Bucket, Prefix: "rec", Insecure: true,
			AccessKey: bucket.AccessKey, SecretKeyFile: secret}
	})
	s := runServer(t, cfg, &syncBuffer{})
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, _ := claimed(t, s, o, dir, "builtin:porch", "Porch")
	s.must(o.token, "PUT", "/api/v1/cameras/"+cam+"/recording", map[string]any{"mode": "continuous"}, 200)

	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	var spans []any
	waitFor(t, "two recorded segments", func() bool {
		list := s.must(o.token, "GET", "/api/v1/cameras/"+cam+"/recordings?since="+since+"&until="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano), nil, 200)
		spans, _ = list["spans"].([]any)
		return len(spans) > 0 && spans[0].(map[string]any)["segments"].(float64) >= 2
	})

	code, pl := s.raw(o.token, "/api/v1/cameras/"+cam+"/recordings/playlist.m3u8?since="+since+"&until="+time.Now().UTC().Format(time.RFC3339Nano))
	if code != 200 {
		t.Fatalf("playlist: %d %s", code, pl)
	}
	var init, media string
	for _, line := range strings.Split(string(pl), "\n") {
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:URI=") && init == "":
			init = strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`)
		case line != "" && !strings.HasPrefix(line, "#") && media == "":
			media = line
		}
	}
	parts, mb := s.recordedSegment(o.token, cam, init, media)
	if len(parts) == 0 {
		t.Fatal("an empty media segment")
	}

	// The objects are in the bucket, under the prefix, and hold no
	// plaintext of the segment just played.
	bucket.Prefix = "rec"
	st, err := s3.Open(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "")
	if err != nil || len(objs) < 2 {
		t.Fatalf("bucket holds %d objects: %v", len(objs), err)
	}
	probe := mb[len(mb)/2 : len(mb)/2+64]
	for _, oi := range objs {
		obj, err := st.Open(ctx, oi.Key)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, obj.Size())
		obj.ReadAt(b, 0)
		obj.Close()
		if bytes.Contains(b, probe) {
			t.Fatalf("object %s holds plaintext video", oi.Key)
		}
	}
	// Nothing recorded on local disk.
	filepath.WalkDir(cfg.RecordingsDir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("recording file on local disk: %s", path)
		}
		return nil
	})
}
