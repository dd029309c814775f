package api

import (
	"net/http"
	"time"

	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

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
