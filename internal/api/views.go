package api

import (
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/service"
)

// The JSON shapes of API v1. Field names are a contract.

type accountJSON struct {
	ID            domain.ID `json:"id"`
	Email         string    `json:"email"`
	InstanceAdmin bool      `json:"instance_admin"`
	TOTPEnabled   bool      `json:"totp_enabled"`
	CreatedAt     time.Time `json:"created_at"`
}

func accountView(a domain.Account) accountJSON {
	return accountJSON{ID: a.ID, Email: a.Email, InstanceAdmin: a.InstanceAdmin, TOTPEnabled: a.TOTPEnabled, CreatedAt: a.CreatedAt}
}

type homeJSON struct {
	ID        domain.ID   `json:"id"`
	Name      string      `json:"name"`
	Role      domain.Role `json:"role,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
}

func homeView(h domain.Home, role domain.Role) homeJSON {
	return homeJSON{ID: h.ID, Name: h.Name, Role: role, CreatedAt: h.CreatedAt}
}

type memberJSON struct {
	AccountID   domain.ID       `json:"account_id"`
	Email       string          `json:"email"`
	Role        domain.Role     `json:"role"`
	Cameras     []domain.ID     `json:"cameras,omitempty"`
	Actions     []domain.Action `json:"actions,omitempty"`
	AccessUntil *time.Time      `json:"access_until,omitempty"`
	HistoryFrom *time.Time      `json:"history_from,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
}

func memberView(m domain.Membership, email string) memberJSON {
	v := memberJSON{AccountID: m.AccountID, Email: email, Role: m.Role, Actions: m.Actions, CreatedAt: m.CreatedAt,
		AccessUntil: timePtr(m.Until), HistoryFrom: timePtr(m.HistoryFrom)}
	for _, c := range m.Cameras {
		v.Cameras = append(v.Cameras, c.Camera)
	}
	return v
}

type cameraJSON struct {
	ID         domain.ID          `json:"id"`
	HomeID     domain.ID          `json:"home_id"`
	Name       string             `json:"name"`
	Generation int64              `json:"generation"`
	State      domain.CameraState `json:"state"`
	Actions    []domain.Action    `json:"actions"`
	CreatedAt  time.Time          `json:"created_at"`
	// Device fields: whether an enrolled device stands behind the camera,
	// whether it is connected now, when it was last seen and what agent
	// it runs.
	Device       bool       `json:"device"`
	Online       bool       `json:"online"`
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	AgentVersion string     `json:"agent_version,omitempty"`
	// Signed says the camera signs its video (agent cameras); pulled IP
	// cameras cannot.
	Signed bool `json:"signed"`
	Pulled bool `json:"pulled"`
	// PublicKeyPEM is the enrolled device's public key (PEM "PUBLIC
	// KEY"), to check its signed video with `camvault verify --key`.
	PublicKeyPEM string `json:"public_key_pem,omitempty"`
}

func cameraView(c service.CameraView) cameraJSON {
	return cameraJSON{ID: c.ID, HomeID: c.HomeID, Name: c.Name, Generation: c.Generation, State: c.State,
		Actions: c.Actions, CreatedAt: c.CreatedAt, Device: c.DeviceBacked(), Online: c.Online,
		LastSeen: timePtr(c.LastSeen), AgentVersion: c.AgentVersion, Signed: c.DeviceBacked(), Pulled: c.Pulled(),
		PublicKeyPEM: c.PublicKeyPEM()}
}

type auditJSON struct {
	ID        domain.ID `json:"id"`
	Time      time.Time `json:"time"`
	HomeID    domain.ID `json:"home_id,omitempty"`
	CameraID  domain.ID `json:"camera_id,omitempty"`
	Principal domain.ID `json:"principal,omitempty"`
	// PrincipalName and CameraName are given for the home's current
	// members and cameras only.
	PrincipalName string        `json:"principal_name,omitempty"`
	CameraName    string        `json:"camera_name,omitempty"`
	Action        string        `json:"action"`
	Result        domain.Result `json:"result"`
	Client        string        `json:"client,omitempty"`
	Detail        string        `json:"detail,omitempty"`
}

func auditView(e domain.AuditEvent, log service.AuditLog) auditJSON {
	return auditJSON{ID: e.ID, Time: e.Time, HomeID: e.HomeID, CameraID: e.CameraID, Principal: e.Principal,
		PrincipalName: log.Accounts[e.Principal], CameraName: log.Cameras[e.CameraID],
		Action: e.Action, Result: e.Result, Client: e.Client, Detail: e.Detail}
}

type sessionJSON struct {
	ID        domain.ID          `json:"id"`
	Kind      domain.SessionKind `json:"kind"`
	Name      string             `json:"name,omitempty"`
	Current   bool               `json:"current"`
	CreatedAt time.Time          `json:"created_at"`
	LastSeen  time.Time          `json:"last_seen"`
	ExpiresAt time.Time          `json:"expires_at"`
	Client    string             `json:"client,omitempty"`
	UserAgent string             `json:"user_agent,omitempty"`
}

func sessionView(s domain.Session, current domain.ID) sessionJSON {
	return sessionJSON{ID: s.ID, Kind: s.Kind, Name: s.Name, Current: s.ID == current, CreatedAt: s.CreatedAt,
		LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, Client: s.Client, UserAgent: s.UserAgent}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
