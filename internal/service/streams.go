package service

import (
	"context"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/authz"
	"github.com/camvault/camvault/internal/domain"
)

// LiveConfig says where viewers reach live video.
type LiveConfig struct {
	// RTSPURL is the viewer RTSPS listener, e.g. "rtsps://cams.example.org:8322".
	RTSPURL string
	// WHEPURL is the WHEP endpoint prefix, e.g. "https://cams.example.org/whep".
	WHEPURL string
	// HLSURL is the HLS prefix, e.g. "https://cams.example.org/hls".
	HLSURL string
	// Elsewhere, if set, says where viewers reach a camera whose device
	// is connected to another node of the cluster: that node serves its
	// video. ok is false when this node holds the camera, or none does.
	Elsewhere func(ctx context.Context, camera domain.ID) (at LiveConfig, ok bool)
}

// StreamTicketLifetime is how long a viewer has to start a stream with its
// credential.
const StreamTicketLifetime = 60 * time.Second

// Stream protocols.
const (
	ProtoRTSP   = "rtsp"
	ProtoWebRTC = "webrtc"
	ProtoHLS    = "hls"
)

// MaxOutstandingTickets bounds an account's issued, unused, unexpired
// stream URLs: generous for a household or an NVR reading every camera,
// bounded for anyone piling them up. (Package live bounds the streams
// open at once.)
const MaxOutstandingTickets = 256

// ticket is what a single-use stream credential stands for. It is kept in
// the store (kind onceStream) under the credential's hash, with the
// account as owner.
type ticket struct {
	Session  domain.ID        `json:"session,omitempty"`
	Link     domain.ID        `json:"link,omitempty"` // set when an integration asked
	Camera   domain.CameraRef `json:"camera"`
	Protocol string           `json:"protocol"`
}

// StreamTicket is what a viewer gets: a URL carrying a short-lived,
// single-use credential bound to it, the camera's generation and the
// protocol.
type StreamTicket struct {
	URL       string
	ExpiresAt time.Time
}

// CreateStream authorizes live viewing of a camera (audited) and returns a
// URL for protocol.
func (s *Service) CreateStream(ctx context.Context, c Caller, camera domain.ID, protocol string) (StreamTicket, error) {
	switch protocol {
	case ProtoRTSP, ProtoWebRTC, ProtoHLS:
	default:
		return StreamTicket{}, invalid(`protocol must be "webrtc", "hls" or "rtsp"`)
	}
	acc, err := s.authorizeCamera(ctx, c, camera, domain.ActionLive, "live.ticket")
	if err != nil {
		return StreamTicket{}, err
	}
	live := s.cfg.Live
	if live.Elsewhere != nil && acc.camera.DeviceBacked() {
		// Viewers go to the node the camera pushes its video to; the
		// credential is a store row, which that node redeems.
		if at, ok := live.Elsewhere(ctx, camera); ok {
			live = at
		}
	}
	base, file := "", ""
	switch protocol {
	case ProtoRTSP:
		base = live.RTSPURL
	case ProtoWebRTC:
		base = live.WHEPURL
	case ProtoHLS:
		base, file = live.HLSURL, "/index.m3u8"
	}
	if base == "" || !s.cfg.Video {
		return StreamTicket{}, &Error{Kind: KindInvalid, Code: "unsupported_protocol", Message: protocol + " viewing is not available on this server"}
	}
	tok, hash := authn.NewToken(authn.KindStream)
	now := s.now()
	exp := now.Add(StreamTicketLifetime)
	// Counted across nodes; racing requests may pass the cap by a few.
	mine, oldest, err := s.st.CountOnce(ctx, onceStream, c.Account.ID, now)
	if err != nil {
		return StreamTicket{}, internal("count stream tickets", err)
	}
	if mine >= MaxOutstandingTickets {
		return StreamTicket{}, &Error{Kind: KindThrottled, Code: "too_many_tickets",
			Message: "too many stream URLs waiting to be used; use them or let them expire", RetryAfter: oldest.Sub(now) + time.Second}
	}
	t := ticket{Session: c.SessionID, Link: c.Link, Camera: acc.camera.Ref(), Protocol: protocol}
	if err := s.putOnce(ctx, onceStream, hash, c.Account.ID, t, exp); err != nil {
		return StreamTicket{}, internal("store stream ticket", err)
	}
	return StreamTicket{URL: strings.TrimRight(base, "/") + "/cameras/" + string(camera) + file + "?token=" + tok, ExpiresAt: exp}, nil
}

// RedeemStream spends a stream credential for camera over protocol and
// returns the viewer's live grant. The credential works once, within its
// lifetime, for the camera generation it was made for, and only while the
// session that made it is valid. The returned reauth renews the grant
// (Regrant) when it runs out or is revoked.
func (s *Service) RedeemStream(ctx context.Context, token string, camera domain.ID, protocol, addr string) (authz.Grant, func(context.Context) (authz.Grant, error), error) {
	deny := unauthenticated("stream credential not valid")
	hash, err := authn.ParseToken(authn.KindStream, token)
	if err != nil {
		return authz.Grant{}, nil, deny
	}
	var t ticket
	o, ok, err := s.takeOnce(ctx, onceStream, hash, &t)
	if err != nil {
		return authz.Grant{}, nil, internal("take stream ticket", err)
	}
	if !ok || t.Protocol != protocol || t.Camera.Camera != camera {
		return authz.Grant{}, nil, deny
	}
	c, err := s.callerFor(ctx, o.Owner, t.Session, t.Link, addr)
	if err != nil {
		return authz.Grant{}, nil, err
	}
	g, err := s.LiveGrant(ctx, c, camera)
	if err != nil {
		return authz.Grant{}, nil, err
	}
	if g.Camera() != t.Camera {
		return authz.Grant{}, nil, notFound() // the camera changed hands since the ticket was made
	}
	reauth := func(ctx context.Context) (authz.Grant, error) { return s.Regrant(ctx, c, t.Camera) }
	return g, reauth, nil
}

// Regrant re-authorizes a running viewer whose grant ran out or was
// revoked: the session must still be valid and the policy must still
// allow live viewing of the same camera generation.
func (s *Service) Regrant(ctx context.Context, c Caller, camera domain.CameraRef) (authz.Grant, error) {
	c, err := s.callerFor(ctx, c.Account.ID, c.SessionID, c.Link, c.Addr)
	if err != nil {
		return authz.Grant{}, err
	}
	g, err := s.LiveGrant(ctx, c, camera.Camera)
	if err != nil {
		return authz.Grant{}, err
	}
	if g.Camera() != camera {
		return authz.Grant{}, notFound()
	}
	return g, nil
}

// callerFor loads an account, acting under link when it is set, and
// checks that its session (if any) is still valid.
func (s *Service) callerFor(ctx context.Context, account, session, link domain.ID, addr string) (Caller, error) {
	deny := unauthenticated("stream credential not valid")
	a, err := s.st.Account(ctx, account)
	if err != nil || a.Disabled {
		return Caller{}, deny
	}
	if session != "" {
		sessions, err := s.st.Sessions(ctx, account)
		if err != nil {
			return Caller{}, internal("load sessions", err)
		}
		now := s.now()
		valid := false
		for _, x := range sessions {
			if x.ID == session && now.Before(x.ExpiresAt) {
				valid = true
			}
		}
		if !valid {
			return Caller{}, deny
		}
	}
	return Caller{Account: a, SessionID: session, Link: link, Addr: addr}, nil
}
