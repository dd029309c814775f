package httpserver

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/camvault/camvault/internal/domain"
)

// TestNodeMetrics: a cluster node's metrics carry its name; a single
// server's carry no node label.
func TestNodeMetrics(t *testing.T) {
	for _, tc := range []struct {
		node string
		want string
	}{
		{"media-2", `camvault_logins_total{node="media-2",result="ok"} 1`},
		{"", `camvault_logins_total{result="ok"} 1`},
	} {
		m := NewNodeMetrics(tc.node)
		m.Event("login", domain.ResultOK)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("node %q: no %s in\n%s", tc.node, tc.want, rec.Body.String())
		}
	}
}
