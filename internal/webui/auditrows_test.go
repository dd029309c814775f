package webui

import (
	"strings"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

func TestAuditRows(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ana, eve := domain.ID("acct-ana-0001"), domain.ID("acct-eve-0002")
	porch, gone := domain.ID("cam-porch-001"), domain.ID("cam-gone-0002")
	ev := func(sec int, who domain.ID, cam domain.ID, action string, result domain.Result) domain.AuditEvent {
		return domain.AuditEvent{Time: at.Add(time.Duration(sec) * time.Second), Principal: who, CameraID: cam, Action: action, Result: result, Client: "10.0.0.1"}
	}
	// Newest first, as the store lists them.
	log := service.AuditLog{
		Events: []domain.AuditEvent{
			ev(400, ana, porch, "camera.view", domain.ResultAllowed), // 5 minutes later: a new row
			ev(9, ana, porch, "live", domain.ResultAllowed),
			ev(8, ana, porch, "live.ticket", domain.ResultAllowed),
			ev(7, eve, porch, "live", domain.ResultDenied), // a denial breaks the run and stands alone
			ev(6, ana, porch, "snapshot", domain.ResultAllowed),
			ev(5, ana, porch, "recordings.list", domain.ResultAllowed),
			ev(4, ana, porch, "snapshot", domain.ResultAllowed),
			ev(3, ana, porch, "camera.view", domain.ResultAllowed),
			ev(2, ana, porch, "camera.rename", domain.ResultAllowed), // a change stands alone
			ev(1, ana, gone, "playback", domain.ResultAllowed),
		},
		Accounts: map[domain.ID]string{ana: "ana@example.org"},
		Cameras:  map[domain.ID]string{porch: "Porch"},
	}
	rows := auditRows(log)
	type want struct {
		who, camera, actions string
		events               int
	}
	wants := []want{
		{"ana@example.org", "Porch", "camera.view", 1},
		{"ana@example.org", "Porch", "live.ticket, live", 2},
		{"not a member (acct-eve…)", "Porch", "live", 1},
		{"ana@example.org", "Porch", "camera.view, snapshot ×2, recordings.list", 4},
		{"ana@example.org", "Porch", "camera.rename", 1},
		{"ana@example.org", "former camera (cam-gone…)", "playback", 1},
	}
	if len(rows) != len(wants) {
		for _, r := range rows {
			t.Logf("%s %s %s", r.Who, r.Camera, r.Actions)
		}
		t.Fatalf("%d rows, want %d", len(rows), len(wants))
	}
	for i, w := range wants {
		r := rows[i]
		if r.Who != w.who || r.Camera != w.camera || r.Actions != w.actions || len(r.Events) != w.events {
			t.Errorf("row %d = %q %q %q (%d events), want %q %q %q (%d)", i, r.Who, r.Camera, r.Actions, len(r.Events), w.who, w.camera, w.actions, w.events)
		}
	}
	if r := rows[3]; !r.From.Equal(at.Add(3*time.Second)) || !r.To.Equal(at.Add(6*time.Second)) {
		t.Errorf("folded row spans %v–%v", r.From, r.To)
	}
	if strings.Contains(rows[2].Who, "@") {
		t.Error("an outsider's address is shown")
	}
}
