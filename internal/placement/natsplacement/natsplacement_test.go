package natsplacement_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/placement/natsplacement"
	"github.com/camvault/camvault/internal/placement/placementtest"
)

func TestNATS(t *testing.T) {
	url := os.Getenv("CAMVAULT_TEST_NATS")
	if url == "" {
		t.Skip("CAMVAULT_TEST_NATS not set (e.g. nats://127.0.0.1:4222): NATS placement tests skipped")
	}
	placementtest.Run(t, func(t *testing.T) (placement.Directory, placement.Directory) {
		// Buckets of their own per test, removed afterwards.
		prefix := "camvault_test_" + strings.ToLower(string(domain.NewID()))
		open := func() *natsplacement.Directory {
			d, err := natsplacement.Open(context.Background(), url, prefix, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		a, b := open(), open()
		t.Cleanup(func() { a.DeleteBuckets(context.Background()) })
		return a, b
	})
}
