package s3_test

import (
	"context"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/blob"
	"github.com/camvault/camvault/internal/blob/blobtest"
	"github.com/camvault/camvault/internal/blob/s3"
	"github.com/camvault/camvault/internal/blob/s3/s3test"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		st, err := s3.Open(context.Background(), s3test.Start(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestPrefix: two stores sharing a bucket under different prefixes see
// only their own objects.
func TestPrefix(t *testing.T) {
	ctx := context.Background()
	cfg := s3test.Start(t)
	cfg.Prefix = "node-a"
	a, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix = "node-b/"
	b, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, "x/1", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "x/1"); err == nil {
		t.Fatal("b sees a's object")
	}
	if list, err := b.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("b lists %+v %v", list, err)
	}
	if list, err := a.List(ctx, ""); err != nil || len(list) != 1 || list[0].Key != "x/1" {
		t.Fatalf("a lists %+v %v", list, err)
	}
}

// TestOpenRefusesMissingBucket: without CreateBucket a missing bucket is an
// error at start, not at the first write.
func TestOpenRefusesMissingBucket(t *testing.T) {
	cfg := s3test.Start(t)
	cfg.CreateBucket = false
	if _, err := s3.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open: %v", err)
	}
	cfg.SecretKey = "wrong"
	cfg.CreateBucket = true
	if _, err := s3.Open(context.Background(), cfg); err == nil {
		t.Fatal("wrong credentials accepted")
	}
}
