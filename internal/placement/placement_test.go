package placement_test

import (
	"testing"

	"github.com/camvault/camvault/internal/placement"
	"github.com/camvault/camvault/internal/placement/placementtest"
)

func TestLocal(t *testing.T) {
	placementtest.Run(t, func(t *testing.T) (placement.Directory, placement.Directory) {
		sh := placement.NewShared(nil)
		return sh.View(), sh.View()
	})
}
