package api

import (
	"net/http"

	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

func (a *API) createStream(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Protocol string `json:"protocol"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	t, err := a.svc.CreateStream(r.Context(), c, id(r, "camera"), req.Protocol)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, map[string]any{"url": t.URL, "expires_at": t.ExpiresAt})
}

func (a *API) snapshot(w http.ResponseWriter, r *http.Request, c service.Caller) {
	jpeg, at, err := a.svc.Snapshot(r.Context(), c, id(r, "camera"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	w.Write(jpeg)
}
