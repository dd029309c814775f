package api

import (
	"net/http"

	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

func (a *API) cameras(w http.ResponseWriter, r *http.Request, c service.Caller) {
	list, err := a.svc.Cameras(r.Context(), c, id(r, "home"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []cameraJSON{}
	for _, cam := range list {
		out = append(out, cameraView(cam))
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]any{"cameras": out})
}

func (a *API) createCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Name string `json:"name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	cam, err := a.svc.CreateCamera(r.Context(), c, id(r, "home"), req.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, cameraView(cam))
}

func (a *API) claimCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		ClaimCode string `json:"claim_code"`
		Name      string `json:"name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	cam, err := a.svc.ClaimCamera(r.Context(), c, id(r, "home"), req.ClaimCode, req.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, cameraView(cam))
}

func (a *API) pullCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Name        string `json:"name"`
		Source      string `json:"source"`
		SnapshotURL string `json:"snapshot_url"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	cam, err := a.svc.AddPulledCamera(r.Context(), c, id(r, "home"), service.PulledCamera{Name: req.Name, Source: req.Source, SnapshotURL: req.SnapshotURL})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusCreated, cameraView(cam))
}

func (a *API) camera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	cam, err := a.svc.Camera(r.Context(), c, id(r, "camera"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, cameraView(cam))
}

func (a *API) renameCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct {
		Name string `json:"name"`
	}
	if !a.decode(w, r, &req) {
		return
	}
	cam, err := a.svc.RenameCamera(r.Context(), c, id(r, "camera"), req.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, cameraView(cam))
}

func (a *API) deleteCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.DeleteCamera(r.Context(), c, id(r, "camera")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) transferCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.TransferCamera(r.Context(), c, id(r, "camera")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
