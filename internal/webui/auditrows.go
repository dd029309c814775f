package webui

import (
	"fmt"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// auditRow is one line of the audit page: one event, or a person's
// allowed reads of one camera close together (a camera page loads its
// settings, recordings, stills and stream at once), folded into one line
// that still names every view.
type auditRow struct {
	From, To  time.Time
	Who       string // a member's email, or "anonymous" / a short ID
	Member    bool   // Who is a current member's email
	Principal domain.ID
	Camera    string // the camera's name, or a short ID for a former camera
	CameraID  domain.ID
	Actions   string // "live, snapshot ×2, camera.view"
	Result    domain.Result
	Client    string
	Detail    string
	Events    []domain.AuditEvent // the folded events, newest first
}

// foldWindow is how close together reads must be to fold into one row.
const foldWindow = 2 * time.Minute

// readActions are the camera reads a page view makes. Only allowed ones
// fold; denials and changes always stand on their own line.
var readActions = map[string]bool{
	"camera.view": true, "recording.settings.view": true, "recordings.list": true,
	"recordings.thumbnails": true, "export.list": true, "export.view": true,
	"live.ticket": true, "live": true, "snapshot": true, "playback": true,
}

// auditRows turns events (newest first) into the page's rows.
func auditRows(log service.AuditLog) []auditRow {
	var rows []auditRow
	for _, e := range log.Events {
		if n := len(rows); n > 0 && folds(&rows[n-1], e) {
			r := &rows[n-1]
			r.From = e.Time
			r.Events = append(r.Events, e)
			continue
		}
		rows = append(rows, auditRow{From: e.Time, To: e.Time, Principal: e.Principal, CameraID: e.CameraID,
			Result: e.Result, Client: e.Client, Detail: e.Detail, Events: []domain.AuditEvent{e}})
	}
	for i := range rows {
		r := &rows[i]
		r.Who, r.Member = principalName(log, r.Principal)
		r.Camera = cameraName(log, r.CameraID)
		r.Actions = summarize(r.Events)
		if len(r.Events) > 1 {
			r.Detail = ""
		}
	}
	return rows
}

// folds reports whether e joins row r: the same person, camera, client
// and an allowed read, within foldWindow of the row's oldest event.
func folds(r *auditRow, e domain.AuditEvent) bool {
	last := r.Events[len(r.Events)-1]
	return readActions[last.Action] && readActions[e.Action] &&
		last.Result == domain.ResultAllowed && e.Result == domain.ResultAllowed &&
		e.Principal != "" && e.Principal == r.Principal && e.CameraID == r.CameraID &&
		e.Client == r.Client && r.From.Sub(e.Time) <= foldWindow
}

// summarize lists the actions of events in order of first appearance
// (oldest first), with a count where one repeats.
func summarize(events []domain.AuditEvent) string {
	var order []string
	count := map[string]int{}
	for i := len(events) - 1; i >= 0; i-- {
		a := events[i].Action
		if count[a] == 0 {
			order = append(order, a)
		}
		count[a]++
	}
	parts := make([]string, len(order))
	for i, a := range order {
		parts[i] = a
		if count[a] > 1 {
			parts[i] = fmt.Sprintf("%s ×%d", a, count[a])
		}
	}
	return strings.Join(parts, ", ")
}

func principalName(log service.AuditLog, id domain.ID) (string, bool) {
	switch name, ok := log.Accounts[id]; {
	case id == "":
		return "anonymous", false
	case ok:
		return name, true
	default:
		return "not a member (" + short(id) + ")", false
	}
}

func cameraName(log service.AuditLog, id domain.ID) string {
	switch name, ok := log.Cameras[id]; {
	case id == "":
		return ""
	case ok && name != "":
		return name
	default:
		return "former camera (" + short(id) + ")"
	}
}

// short is the first characters of an ID, enough to tell them apart on a
// page.
func short(id domain.ID) string {
	if len(id) > 8 {
		return string(id[:8]) + "…"
	}
	return string(id)
}
