// Package smarthome is the fulfillment endpoint for smart-display and
// assistant platforms, shaped like the public smart-home camera APIs:
// SYNC lists the cameras a link names (at their current generation),
// QUERY reports whether they are online, EXECUTE with GetCameraStream
// returns a single-use, short-lived stream credential bound to the link,
// the camera's generation and the protocol, and DISCONNECT revokes the
// link. A snapshot route serves linked cameras' pictures.
//
// Every request is authenticated by an OAuth access token, and everything
// it asks for is decided by package service under the token's link: the
// policy grants the intersection of the link and the account's own
// rights, never the token's scope.
package smarthome

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/fault"
	"github.com/camvault/camvault/internal/httpserver"
	"github.com/camvault/camvault/internal/service"
)

// Verifier checks an access token and returns the link it acts under and
// the account that gave it.
type Verifier func(ctx context.Context, token string) (link, account domain.ID, err error)

// Service is what fulfillment asks of the use cases; *service.Service
// implements it.
type Service interface {
	LinkCaller(ctx context.Context, link, account domain.ID, addr string) (service.Caller, error)
	LinkedCameras(ctx context.Context, c service.Caller) ([]service.CameraView, error)
	CreateStream(ctx context.Context, c service.Caller, camera domain.ID, protocol string) (service.StreamTicket, error)
	Snapshot(ctx context.Context, c service.Caller, camera domain.ID) ([]byte, time.Time, error)
	RevokeLink(ctx context.Context, c service.Caller, id domain.ID) error
}

// Config configures the endpoint.
type Config struct {
	Service Service
	Verify  Verifier
	Logger  *slog.Logger
}

// Server serves fulfillment.
type Server struct {
	svc    Service
	verify Verifier
	log    *slog.Logger
}

// New returns the server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{svc: cfg.Service, verify: cfg.Verify, log: cfg.Logger}
}

// Routes returns the fulfillment and snapshot routes.
func (s *Server) Routes() []httpserver.Route {
	const why = "smart-home fulfillment: the OAuth access token is the credential; everything is decided under its link"
	return []httpserver.Route{
		{Pattern: "POST /smarthome/fulfillment", Public: why, Handler: s.fulfill},
		{Pattern: "GET /smarthome/cameras/{camera}/snapshot", Public: why, Handler: s.snapshot},
	}
}

// caller authenticates the request's bearer access token, answering 401
// itself when it fails.
func (s *Server) caller(w http.ResponseWriter, r *http.Request, c service.Caller) (service.Caller, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		if link, account, err := s.verify(r.Context(), strings.TrimSpace(tok)); err == nil {
			lc, err := s.svc.LinkCaller(r.Context(), link, account, c.Addr)
			if err == nil {
				lc.UserAgent = c.UserAgent
				return lc, true
			}
			if fault.KindOf(err) == fault.KindInternal {
				httpserver.WriteError(w, r, err, s.log)
				return service.Caller{}, false
			}
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	httpserver.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
	return service.Caller{}, false
}

// Response is a fulfillment response.
type Response struct {
	RequestID string `json:"requestId"`
	Payload   any    `json:"payload"`
}

// SyncPayload answers SYNC.
type SyncPayload struct {
	AgentUserID string   `json:"agentUserId"`
	Devices     []Device `json:"devices"`
}

// Device is a camera as SYNC describes it.
type Device struct {
	ID              string           `json:"id"`
	Type            string           `json:"type"`
	Traits          []string         `json:"traits"`
	Name            DeviceName       `json:"name"`
	WillReportState bool             `json:"willReportState"`
	Attributes      DeviceAttributes `json:"attributes"`
	DeviceInfo      DeviceInfo       `json:"deviceInfo"`
}

// DeviceName is a device's name.
type DeviceName struct {
	Name string `json:"name"`
}

// DeviceAttributes are the camera-stream trait's attributes, and the
// actions the link allows on the camera.
type DeviceAttributes struct {
	SupportedProtocols []string `json:"cameraStreamSupportedProtocols"`
	NeedAuthToken      bool     `json:"cameraStreamNeedAuthToken"`
	NeedDRMEncryption  bool     `json:"cameraStreamNeedDrmEncryption"`
	Actions            []string `json:"camvaultActions"`
	// Generation and DeviceKey (base64 of the device's public key,
	// PKIX DER; empty for unsigned IP cameras) let a display check that
	// every frame it receives was signed by this camera.
	Generation int64  `json:"camvaultGeneration"`
	DeviceKey  string `json:"camvaultDeviceKey,omitempty"`
}

// DeviceInfo says who made the device.
type DeviceInfo struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
}

// QueryPayload answers QUERY.
type QueryPayload struct {
	Devices map[string]DeviceState `json:"devices"`
}

// DeviceState is one device's state, or why there is none.
type DeviceState struct {
	Online    bool   `json:"online"`
	Status    string `json:"status"`
	ErrorCode string `json:"errorCode,omitempty"`
}

// ExecutePayload answers EXECUTE.
type ExecutePayload struct {
	Commands []CommandResult `json:"commands"`
}

// CommandResult is the result for some devices.
type CommandResult struct {
	IDs       []string      `json:"ids"`
	Status    string        `json:"status"`
	ErrorCode string        `json:"errorCode,omitempty"`
	States    *StreamStates `json:"states,omitempty"`
}

// StreamStates are GetCameraStream's results.
type StreamStates struct {
	Online       bool   `json:"online"`
	Protocol     string `json:"cameraStreamProtocol"`
	AccessURL    string `json:"cameraStreamAccessUrl,omitempty"`
	SignalingURL string `json:"cameraStreamSignalingUrl,omitempty"`
	AuthToken    string `json:"cameraStreamAuthToken"`
	IceServers   string `json:"cameraStreamIceServers,omitempty"`
	ExpiresAt    string `json:"camvaultExpiresAt"`
}

func (s *Server) fulfill(w http.ResponseWriter, r *http.Request, c service.Caller) {
	lc, ok := s.caller(w, r, c)
	if !ok {
		return
	}
	req, err := DecodeRequest(r.Body)
	if err != nil {
		httpserver.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": err.Error()})
		return
	}
	ctx := r.Context()
	in := req.Inputs[0]
	var payload any
	switch in.Intent {
	case IntentSync:
		payload, err = s.sync(ctx, lc)
	case IntentQuery:
		payload, err = s.query(ctx, lc, in.Payload.Devices)
	case IntentExecute:
		payload, err = s.execute(ctx, lc, in.Payload.Commands)
	case IntentDisconnect:
		err = s.svc.RevokeLink(ctx, lc, lc.Link)
		payload = struct{}{}
	}
	if err != nil {
		httpserver.WriteError(w, r, err, s.log)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, Response{RequestID: req.RequestID, Payload: payload})
}

func (s *Server) sync(ctx context.Context, c service.Caller) (SyncPayload, error) {
	cams, err := s.svc.LinkedCameras(ctx, c)
	if err != nil {
		return SyncPayload{}, err
	}
	p := SyncPayload{AgentUserID: string(c.Link), Devices: []Device{}}
	for _, cam := range cams {
		acts := make([]string, len(cam.Actions))
		for i, a := range cam.Actions {
			acts[i] = string(a)
		}
		d := Device{ID: string(cam.ID), Type: DeviceTypeCamera, Name: DeviceName{Name: cam.Name}, Traits: []string{},
			Attributes: DeviceAttributes{SupportedProtocols: []string{}, NeedAuthToken: true, Actions: acts,
				Generation: cam.Generation, DeviceKey: base64.StdEncoding.EncodeToString(cam.DeviceKey)},
			DeviceInfo: DeviceInfo{Manufacturer: "camvault", Model: model(cam)}}
		if slices.Contains(cam.Actions, domain.ActionLive) {
			d.Traits = []string{TraitCameraStream}
			d.Attributes.SupportedProtocols = []string{service.ProtoHLS, service.ProtoWebRTC}
		}
		p.Devices = append(p.Devices, d)
	}
	return p, nil
}

func model(cam service.CameraView) string {
	if cam.Pulled() {
		return "IP camera (unsigned)"
	}
	return "camvault agent"
}

func online(cam service.CameraView) bool { return cam.Online || cam.Pulled() }

func (s *Server) query(ctx context.Context, c service.Caller, devices []DeviceRef) (QueryPayload, error) {
	cams, err := s.svc.LinkedCameras(ctx, c)
	if err != nil {
		return QueryPayload{}, err
	}
	p := QueryPayload{Devices: map[string]DeviceState{}}
	for _, d := range devices {
		i := slices.IndexFunc(cams, func(v service.CameraView) bool { return string(v.ID) == d.ID })
		if i < 0 {
			p.Devices[d.ID] = DeviceState{Status: "ERROR", ErrorCode: "deviceNotFound"}
			continue
		}
		p.Devices[d.ID] = DeviceState{Online: online(cams[i]), Status: "SUCCESS"}
	}
	return p, nil
}

func (s *Server) execute(ctx context.Context, c service.Caller, commands []Command) (ExecutePayload, error) {
	p := ExecutePayload{Commands: []CommandResult{}}
	for _, cmd := range commands {
		for _, d := range cmd.Devices {
			for _, e := range cmd.Execution {
				res, err := s.run(ctx, c, d.ID, e)
				if err != nil {
					return ExecutePayload{}, err
				}
				p.Commands = append(p.Commands, res)
			}
		}
	}
	return p, nil
}

// run executes one command on one device. Refusals are per device: a
// camera outside the link is "deviceNotFound", exactly like one that does
// not exist.
func (s *Server) run(ctx context.Context, c service.Caller, id string, e Execution) (CommandResult, error) {
	res := CommandResult{IDs: []string{id}, Status: "ERROR"}
	if e.Command != CommandGetCameraStream {
		res.ErrorCode = "functionNotSupported"
		return res, nil
	}
	proto := ""
	for _, want := range e.Params.SupportedStreamProtocols {
		if want == service.ProtoHLS || want == service.ProtoWebRTC {
			proto = want
			break
		}
	}
	if len(e.Params.SupportedStreamProtocols) == 0 {
		proto = service.ProtoHLS
	}
	if proto == "" {
		res.ErrorCode = "protocolNotSupported"
		return res, nil
	}
	if !domain.ValidID(id) {
		res.ErrorCode = "deviceNotFound"
		return res, nil
	}
	t, err := s.svc.CreateStream(ctx, c, domain.ID(id), proto)
	switch {
	case err == nil:
	case fault.KindOf(err) == fault.KindInternal:
		return res, err
	case fault.KindOf(err) == fault.KindThrottled:
		res.ErrorCode = "tooManyRequests"
		return res, nil
	case fault.KindOf(err) == fault.KindInvalid, fault.KindOf(err) == fault.KindUnavailable:
		res.ErrorCode = "streamUnavailable"
		return res, nil
	default:
		res.ErrorCode = "deviceNotFound"
		return res, nil
	}
	st := &StreamStates{Online: true, Protocol: proto, ExpiresAt: t.ExpiresAt.UTC().Format(time.RFC3339)}
	if u, err := url.Parse(t.URL); err == nil {
		st.AuthToken = u.Query().Get("token")
	}
	if proto == service.ProtoHLS {
		st.AccessURL = t.URL
	} else {
		st.SignalingURL, st.IceServers = t.URL, "[]"
	}
	res.Status, res.States = "SUCCESS", st
	return res, nil
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request, c service.Caller) {
	lc, ok := s.caller(w, r, c)
	if !ok {
		return
	}
	jpeg, at, err := s.svc.Snapshot(r.Context(), lc, domain.ID(r.PathValue("camera")))
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		httpserver.WriteError(w, r, err, s.log)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	h.Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	w.Write(jpeg)
}
