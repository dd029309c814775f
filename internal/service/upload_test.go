package service_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/blob/localfs"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/record"
	"github.com/camvault/camvault/internal/record/keys"
	"github.com/camvault/camvault/internal/service"
	"github.com/camvault/camvault/internal/store"
	"github.com/camvault/camvault/internal/store/sqlite"
)

// TestDeleteTakesUploadsInProgress: deleting recordings also deletes the
// segments some node is still storing, so that upload gives up rather
// than bringing deleted video back once it finishes.
func TestDeleteTakesUploadsInProgress(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "camvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := localfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	ring, err := keys.New(st, key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Config{Store: st, SecretKey: key, Password: authn.Params{Memory: 1024, Time: 1, Threads: 1},
		Recordings: record.NewArchive(blobs, st, ring, nil)})
	if err != nil {
		t.Fatal(err)
	}
	owner, cam := ownerWithCamera(t, svc)
	now := time.Now().UTC().Truncate(time.Microsecond)
	seg := domain.Segment{ID: domain.NewID(), Camera: cam.Ref(), HomeID: cam.HomeID, Start: now.Add(-4 * time.Second), End: now,
		Size: 10, KeyID: domain.NewID(), BlobKey: "rec/x.cvs", CreatedAt: now, UploadingBy: "node-b"}
	if err := st.CreateSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteRecordings(ctx, owner, cam.ID, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	left, err := st.Segments(ctx, store.SegmentFilter{Camera: cam.ID, Generation: store.AnyGeneration, Upload: store.AnyUpload})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("after deleting everything, %d segment(s) still being stored: the upload would bring them back", len(left))
	}
	if err := st.MarkSegmentStored(ctx, seg.ID); err == nil {
		t.Fatal("the upload could still mark its deleted segment stored")
	}
}
