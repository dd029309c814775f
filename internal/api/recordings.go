package api

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// recordingRoutes are the recordings part of the route table.
func (a *API) recordingRoutes() []httpserver.Route {
	return []httpserver.Route{
		{Pattern: "GET /api/v1/cameras/{camera}/recording", Action: domain.ActionManage, Handler: a.cameraRecording},
		{Pattern: "PUT /api/v1/cameras/{camera}/recording", Action: domain.ActionManage, Handler: a.setCameraRecording},
		{Pattern: "POST /api/v1/cameras/{camera}/events", Action: domain.ActionManage, Handler: a.triggerEvent},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings", Action: domain.ActionPlayback, Handler: a.recordings},
		{Pattern: "DELETE /api/v1/cameras/{camera}/recordings", Action: domain.ActionRecordingDelete, Handler: a.deleteRecordings},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings/playlist.m3u8", Action: domain.ActionPlayback, Handler: a.playlist},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings/segments/{segment}/init.mp4", Action: domain.ActionPlayback, Handler: a.segmentInit},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings/segments/{segment}/media.m4s", Action: domain.ActionPlayback, Handler: a.segmentMedia},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings/thumbnails", Action: domain.ActionPlayback, Handler: a.thumbnails},
		{Pattern: "GET /api/v1/cameras/{camera}/recordings/thumbnails/{thumb}", Action: domain.ActionPlayback, Handler: a.thumbnail},
		{Pattern: "POST /api/v1/cameras/{camera}/exports", Action: domain.ActionExport, Handler: a.createExport},
		{Pattern: "GET /api/v1/cameras/{camera}/exports", Action: domain.ActionExport, Handler: a.exports},
		{Pattern: "GET /api/v1/cameras/{camera}/exports/{export}", Action: domain.ActionExport, Handler: a.export},
		{Pattern: "GET /api/v1/cameras/{camera}/exports/{export}/download", Action: domain.ActionExport, Handler: a.downloadExport},
		{Pattern: "GET /api/v1/homes/{home}/recording", Action: domain.ActionHomeRecording, Handler: a.homeRecording},
		{Pattern: "PUT /api/v1/homes/{home}/recording", Action: domain.ActionHomeRecording, Handler: a.setHomeRecording},
		{Pattern: "GET /api/v1/homes/{home}/former-cameras", Action: domain.ActionHomeRecording, Handler: a.formerCameras},
	}
}

func (a *API) cameraRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := a.svc.CameraRecording(r.Context(), c, id(r, "camera"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, v)
}

func (a *API) setCameraRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req service.RecordingSettingsView
	if !a.decode(w, r, &req) {
		return
	}
	v, err := a.svc.SetCameraRecording(r.Context(), c, id(r, "camera"), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, v)
}

func (a *API) triggerEvent(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Label string `json:"label"`
	}
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	if err := a.svc.TriggerEvent(r.Context(), c, id(r, "camera"), req.Label); err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusAccepted, map[string]any{"at": time.Now().UTC()})
}

// window reads since and until (RFC 3339) from the query.
func window(r *http.Request) (since, until time.Time, err error) {
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &since}, {"until", &until}} {
		if vs := q[p.name]; len(vs) > 1 {
			return since, until, badRequest(p.name + " is given once")
		}
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return since, until, badRequest(p.name + " must be an RFC 3339 time")
			}
			*p.dst = t
		}
	}
	return since, until, nil
}

func (a *API) recordings(w http.ResponseWriter, r *http.Request, c service.Caller) {
	since, until, err := window(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.svc.Recordings(r.Context(), c, id(r, "camera"), since, until)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, list)
}

func (a *API) deleteRecordings(w http.ResponseWriter, r *http.Request, c service.Caller) {
	since, until, err := window(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	all := r.URL.Query().Get("all") == "true"
	if all != (since.IsZero() && until.IsZero()) {
		a.fail(w, r, badRequest("give since and until, or all=true"))
		return
	}
	n, err := a.svc.DeleteRecordings(r.Context(), c, id(r, "camera"), since, until)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"deleted_segments": n})
}

// playlist answers an HLS VOD playlist (RFC 8216) over the recorded fMP4
// segments; program date-times place every segment on the wall clock, so
// players can seek to any instant.
func (a *API) playlist(w http.ResponseWriter, r *http.Request, c service.Caller) {
	since, until, err := window(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	segs, err := a.svc.PlaybackSegments(r.Context(), c, id(r, "camera"), since, until)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	target := 1.0
	for _, s := range segs {
		target = math.Max(target, math.Ceil(s.End.Sub(s.Start).Seconds()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n", int(target))
	for i, s := range segs {
		if i > 0 && (s.Start.Sub(segs[i-1].End) > 1500*time.Millisecond || s.Camera.Generation != segs[i-1].Camera.Generation) {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXT-X-MAP:URI=\"segments/%s/init.mp4\"\n#EXTINF:%.3f,\nsegments/%s/media.m4s\n",
			s.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00"), s.ID, s.End.Sub(s.Start).Seconds(), s.ID)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "private, no-store")
	io.WriteString(w, b.String())
}

func (a *API) segmentInit(w http.ResponseWriter, r *http.Request, c service.Caller) {
	a.segment(w, r, c, service.SegmentInit, "video/mp4")
}

func (a *API) segmentMedia(w http.ResponseWriter, r *http.Request, c service.Caller) {
	a.segment(w, r, c, service.SegmentMedia, "video/iso.segment")
}

func (a *API) segment(w http.ResponseWriter, r *http.Request, c service.Caller, part service.SegmentPart, ctype string) {
	b, err := a.svc.SegmentData(r.Context(), c, id(r, "camera"), id(r, "segment"), part)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Write(b)
}

type exportJSON struct {
	service.ExportView
	DownloadURL string `json:"download_url,omitempty"`
}

func exportOut(v service.ExportView) exportJSON {
	out := exportJSON{ExportView: v}
	if v.DownloadToken != "" {
		out.DownloadURL = "/api/v1/cameras/" + string(v.Camera) + "/exports/" + string(v.ID) + "/download?token=" + v.DownloadToken
	}
	return out
}

func (a *API) createExport(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Since time.Time `json:"since"`
		Until time.Time `json:"until"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	v, err := a.svc.CreateExport(r.Context(), c, id(r, "camera"), req.Since, req.Until)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/cameras/"+string(v.Camera)+"/exports/"+string(v.ID))
	httpserver.WriteJSON(w, http.StatusAccepted, exportOut(v))
}

func (a *API) exports(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Exports(r.Context(), c, id(r, "camera"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []exportJSON{}
	for _, v := range list {
		out = append(out, exportOut(v))
	}
	httpserver.WriteJSON(w, http.StatusOK, out)
}

func (a *API) export(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := a.svc.Export(r.Context(), c, id(r, "camera"), id(r, "export"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, exportOut(v))
}

func (a *API) downloadExport(w http.ResponseWriter, r *http.Request, c service.Caller) {
	f, _, err := a.svc.DownloadExport(r.Context(), c, id(r, "camera"), id(r, "export"), r.URL.Query().Get("token"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if cl, ok := f.(io.Closer); ok {
		defer cl.Close()
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="camvault-`+string(id(r, "camera"))+`-`+string(id(r, "export"))+`.mp4"`)
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (a *API) homeRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	v, err := a.svc.HomeRecording(r.Context(), c, id(r, "home"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, v)
}

func (a *API) formerCameras(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.FormerCameras(r.Context(), c, id(r, "home"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"former_cameras": list})
}

func (a *API) setHomeRecording(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req service.HomeRecordingView
	if !a.decode(w, r, &req) {
		return
	}
	v, err := a.svc.SetHomeRecording(r.Context(), c, id(r, "home"), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, v)
}

func (a *API) thumbnails(w http.ResponseWriter, r *http.Request, c service.Caller) {
	since, until, err := window(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.svc.Thumbnails(r.Context(), c, id(r, "camera"), since, until)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type thumbJSON struct {
		service.ThumbnailView
		URL string `json:"url"`
	}
	out := []thumbJSON{}
	for _, t := range list {
		out = append(out, thumbJSON{t, "/api/v1/cameras/" + string(id(r, "camera")) + "/recordings/thumbnails/" + t.ID})
	}
	httpserver.WriteJSON(w, http.StatusOK, out)
}

func (a *API) thumbnail(w http.ResponseWriter, r *http.Request, c service.Caller) {
	b, err := a.svc.Thumbnail(r.Context(), c, id(r, "camera"), r.PathValue("thumb"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(b)
}
