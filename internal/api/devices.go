package api

import (
	"net/http"
	"time"

	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

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

func (a *API) transferCamera(w http.ResponseWriter, r *http.Request, c service.Caller) {
	if err := a.svc.TransferCamera(r.Context(), c, id(r, "camera")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deviceChallenge(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req struct{}
	if !a.decode(w, r, &req) {
		return
	}
	nonce, err := a.svc.DeviceChallenge(r.Context(), c.Addr)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, map[string]string{"nonce": nonce})
}

// proofJSON is a device's proof of key possession. Byte fields are
// standard base64 in JSON.
type proofJSON struct {
	PublicKey    []byte `json:"public_key"`
	Nonce        string `json:"nonce"`
	Signature    []byte `json:"signature"`
	AgentVersion string `json:"agent_version,omitempty"`
}

func (p proofJSON) proof() service.DeviceProof {
	return service.DeviceProof{PublicKey: p.PublicKey, Nonce: p.Nonce, Signature: p.Signature}
}

// enrollJSON answers an enrolment.
type enrollJSON struct {
	CameraID       string     `json:"camera_id"`
	Claimed        bool       `json:"claimed"`
	ClaimCode      string     `json:"claim_code,omitempty"`
	ClaimExpiresAt *time.Time `json:"claim_expires_at,omitempty"`
	CA             string     `json:"ca"`
	DeviceURL      string     `json:"device_url"`
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req proofJSON
	if !a.decode(w, r, &req) {
		return
	}
	e, err := a.svc.Enroll(r.Context(), c.Addr, req.proof())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if e.Claimed {
		status = http.StatusOK
	}
	httpserver.WriteJSON(w, status, enrollJSON{CameraID: string(e.CameraID), Claimed: e.Claimed, ClaimCode: e.ClaimCode,
		ClaimExpiresAt: timePtr(e.ClaimExpiresAt), CA: string(e.CAPEM), DeviceURL: e.DeviceURL})
}

// certificateJSON answers a certificate request.
type certificateJSON struct {
	CameraID    string     `json:"camera_id"`
	Claimed     bool       `json:"claimed"`
	Generation  int64      `json:"generation,omitempty"`
	Certificate string     `json:"certificate,omitempty"`
	NotAfter    *time.Time `json:"not_after,omitempty"`
	CA          string     `json:"ca"`
	DeviceURL   string     `json:"device_url"`
}

func (a *API) deviceCertificate(w http.ResponseWriter, r *http.Request, c service.Caller) {
	var req proofJSON
	if !a.decode(w, r, &req) {
		return
	}
	dc, err := a.svc.IssueDeviceCertificate(r.Context(), c.Addr, req.proof())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := certificateJSON{CameraID: string(dc.CameraID), Claimed: dc.Claimed, Generation: dc.Generation,
		Certificate: string(dc.CertPEM), NotAfter: timePtr(dc.NotAfter), CA: string(dc.CAPEM), DeviceURL: dc.DeviceURL}
	status := http.StatusOK
	if !dc.Claimed {
		// Enrolled, waiting for a home to claim it.
		status = http.StatusAccepted
	}
	httpserver.WriteJSON(w, status, out)
}

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
