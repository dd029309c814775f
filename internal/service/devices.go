package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/camvault/camvault/internal/authn"
	"github.com/camvault/camvault/internal/deviceca"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/events"
	"github.com/camvault/camvault/internal/store"
)

// DeviceConfig configures devices: enrolment, claim and certificates.
type DeviceConfig struct {
	// CA issues device certificates.
	CA *deviceca.CA
	// URL is where agents reach the device listener, e.g.
	// "wss://cameras.example.org:8443".
	URL string
	// RatePerSecond and Burst bound unauthenticated device requests
	// (enrolment, claim polling) per client address; zero means 5 and
	// 60.
	RatePerSecond float64
	Burst         int
	// MaxUnclaimed bounds the cameras waiting for a claim, in total; zero
	// means 10,000. MaxUnclaimedPerAddr bounds the new cameras enrolled
	// from one client address, at once and per day; zero means 50.
	MaxUnclaimed, MaxUnclaimedPerAddr int
}

// DevicePresence is the live side of devices: which are connected, and a
// way to tell one that it left its home. The device hub implements it.
type DevicePresence interface {
	// Online reports whether the camera's device holds a control session.
	Online(camera domain.ID) bool
	// Released tells the camera's connected device that it no longer
	// belongs to a home and ends its session.
	Released(camera domain.ID)
	// Renamed tells the camera's connected device its new name.
	Renamed(camera domain.ID, name string)
}

type noPresence struct{}

func (noPresence) Online(domain.ID) bool     { return false }
func (noPresence) Released(domain.ID)        {}
func (noPresence) Renamed(domain.ID, string) {}

// Device limits.
const (
	// ClaimCodeLifetime is how long a claim code works.
	ClaimCodeLifetime = 24 * time.Hour
	nonceLifetime     = 2 * time.Minute
	maxNonces         = 10_000
)

// Claim attempts are throttled per home and per address: a few free
// mistyped codes, then growing delays.
var (
	claimHomePolicy = authn.Policy{Free: 10, Base: 2 * time.Second, Max: 30 * time.Minute}
	claimAddrPolicy = authn.Policy{Free: 10, Base: 2 * time.Second, Max: 30 * time.Minute}
)

// devices is the service's device state.
type devices struct {
	cfg DeviceConfig

	rates  *rates // unauthenticated device requests per address
	enrols *rates // new unclaimed cameras per address

	mu       sync.Mutex // guards presence
	presence DevicePresence
}

// newDevices returns the device state for cfg.
func newDevices(cfg DeviceConfig) devices {
	perSecond, burst := cfg.RatePerSecond, cfg.Burst
	if perSecond <= 0 {
		perSecond = 5
	}
	if burst <= 0 {
		burst = 60
	}
	perAddr := cfg.MaxUnclaimedPerAddr
	if perAddr <= 0 {
		perAddr = defaultMaxUnclaimedPerAddr
	}
	return devices{cfg: cfg,
		rates: newRates(maxNonces, time.Hour, func(string) *rate.Limiter { return rate.NewLimiter(rate.Limit(perSecond), burst) }),
		// perAddr new cameras at once, then one more each
		// UnclaimedLifetime/perAddr: about perAddr a day.
		enrols: newRates(maxNonces, UnclaimedLifetime, func(string) *rate.Limiter {
			return rate.NewLimiter(rate.Every(UnclaimedLifetime/time.Duration(perAddr)), perAddr)
		}),
	}
}

// SetDevicePresence connects the device hub. Call it before serving.
func (s *Service) SetDevicePresence(p DevicePresence) {
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	s.dev.presence = p
}

func (s *Service) presence() DevicePresence {
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	if s.dev.presence == nil {
		return noPresence{}
	}
	return s.dev.presence
}

// deviceRate bounds unauthenticated device requests per client address:
// by default a burst of 60, then five a second — room for a home of
// devices behind one address polling for their claim.
func (s *Service) deviceRate(addr string) error {
	if !s.dev.rates.allow(s.now(), addr) {
		return &Error{Kind: KindThrottled, Code: "throttled", Message: "too many device requests; slow down", RetryAfter: time.Second}
	}
	return nil
}

// DeviceChallenge returns a fresh single-use nonce that a device signs to
// prove it holds its key.
func (s *Service) DeviceChallenge(ctx context.Context, addr string) (string, error) {
	if err := s.deviceRate(addr); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	// Nonces live in the store (kind onceNonce) by their hash, so that a
	// device may answer at another node than the one that asked.
	now := s.now()
	n, _, err := s.st.CountOnce(ctx, onceNonce, "", now)
	if err != nil {
		return "", internal("count device challenges", err)
	}
	if n >= maxNonces {
		return "", &Error{Kind: KindThrottled, Code: "throttled", Message: "too many pending device requests", RetryAfter: time.Minute}
	}
	if err := s.putOnce(ctx, onceNonce, secretHash(nonce), "", nil, now.Add(nonceLifetime)); err != nil {
		return "", internal("store device challenge", err)
	}
	return nonce, nil
}

// useNonce consumes a nonce; false if it is unknown, used or expired.
func (s *Service) useNonce(ctx context.Context, nonce string) (bool, error) {
	_, ok, err := s.takeOnce(ctx, onceNonce, secretHash(nonce), nil)
	return ok, err
}

// DeviceProof is a device's signed answer to a challenge.
type DeviceProof struct {
	PublicKey []byte // PKIX DER
	Nonce     string
	Signature []byte
}

// checkProof verifies a proof for purpose. Failures say only "invalid".
func (s *Service) checkProof(ctx context.Context, p DeviceProof, purpose string) error {
	ok, err := s.useNonce(ctx, p.Nonce)
	if err != nil {
		return internal("take device challenge", err)
	}
	if !ok {
		return invalid("unknown or expired challenge; ask for a new one")
	}
	if err := authn.VerifyProof(p.PublicKey, purpose, p.Nonce, p.Signature); err != nil {
		return invalid("the device key or its proof is not valid")
	}
	return nil
}

// Enrollment is the answer to an enrolling device.
type Enrollment struct {
	CameraID domain.ID
	// Claimed is true when a home owns the camera already: the device
	// fetches its certificate instead of showing a code.
	Claimed bool
	// ClaimCode is shown by the device until a home claims it; empty when
	// Claimed.
	ClaimCode      string
	ClaimExpiresAt time.Time
	// CAPEM is the device CA certificate, which the device pins for the
	// device listener.
	CAPEM []byte
	// DeviceURL is the device listener.
	DeviceURL string
}

// Enroll registers a device by its key (or finds it again) and, while no
// home owns it, gives it a fresh claim code.
func (s *Service) Enroll(ctx context.Context, addr string, p DeviceProof) (Enrollment, error) {
	if s.dev.cfg.CA == nil {
		return Enrollment{}, notFound()
	}
	if err := s.deviceRate(addr); err != nil {
		return Enrollment{}, err
	}
	if err := s.checkProof(ctx, p, authn.ProofEnroll); err != nil {
		return Enrollment{}, err
	}
	out := Enrollment{CAPEM: s.dev.cfg.CA.CertPEM(), DeviceURL: s.dev.cfg.URL}
	code, hash := authn.NewClaimCode()
	now := s.now()
	cc := domain.ClaimCode{Hash: hash, ExpiresAt: now.Add(ClaimCodeLifetime)}
	cam, err := s.st.CameraByDeviceKey(ctx, p.PublicKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := s.unclaimedCap(ctx, addr); err != nil {
			return Enrollment{}, err
		}
		cam = domain.Camera{ID: domain.NewID(), State: domain.CameraStateUnclaimed, CreatedAt: now, DeviceKey: p.PublicKey, LastSeen: now}
		cc.CameraID = cam.ID
		if err := s.st.EnrollDevice(ctx, cam, cc); errors.Is(err, store.ErrRetired) {
			s.audit(ctx, Caller{Addr: addr}, domain.AuditEvent{Action: "device.enroll", Result: domain.ResultDenied, Detail: "retired key"})
			return Enrollment{}, &Error{Kind: KindConflict, Code: "key_retired",
				Message: "this device key was retired when its camera left a home; the device must make a new key (camvault agent does so itself)"}
		} else if err != nil {
			return Enrollment{}, internal("enroll device", err)
		}
		s.audit(ctx, Caller{Addr: addr}, domain.AuditEvent{CameraID: cam.ID, Action: "device.enroll", Result: domain.ResultOK})
	case err != nil:
		return Enrollment{}, internal("find device", err)
	case cam.HomeID != "":
		out.CameraID, out.Claimed = cam.ID, true
		return out, nil
	default:
		cc.CameraID = cam.ID
		if err := s.st.SetClaimCode(ctx, cc); err != nil {
			if errors.Is(err, store.ErrConflict) {
				out.CameraID, out.Claimed = cam.ID, true
				return out, nil
			}
			return Enrollment{}, internal("new claim code", err)
		}
		s.audit(ctx, Caller{Addr: addr}, domain.AuditEvent{CameraID: cam.ID, Action: "device.claim_code", Result: domain.ResultOK})
	}
	out.CameraID, out.ClaimCode, out.ClaimExpiresAt = cam.ID, code, cc.ExpiresAt
	return out, nil
}

// DeviceCertificate is a device's certificate, or word that it waits for a
// claim.
type DeviceCertificate struct {
	CameraID   domain.ID
	Claimed    bool
	Generation int64
	CertPEM    []byte
	NotAfter   time.Time
	CAPEM      []byte
	DeviceURL  string
}

// IssueDeviceCertificate gives a claimed device a client certificate for
// its camera's current generation. An unclaimed device learns that it
// still waits.
func (s *Service) IssueDeviceCertificate(ctx context.Context, addr string, p DeviceProof) (DeviceCertificate, error) {
	if s.dev.cfg.CA == nil {
		return DeviceCertificate{}, notFound()
	}
	if err := s.deviceRate(addr); err != nil {
		return DeviceCertificate{}, err
	}
	if err := s.checkProof(ctx, p, authn.ProofCertificate); err != nil {
		return DeviceCertificate{}, err
	}
	cam, err := s.st.CameraByDeviceKey(ctx, p.PublicKey)
	if errors.Is(err, store.ErrNotFound) {
		return DeviceCertificate{}, &Error{Kind: KindNotFound, Code: "not_enrolled", Message: "this device is not enrolled; enroll first"}
	}
	if err != nil {
		return DeviceCertificate{}, internal("find device", err)
	}
	out := DeviceCertificate{CameraID: cam.ID, CAPEM: s.dev.cfg.CA.CertPEM(), DeviceURL: s.dev.cfg.URL}
	if cam.HomeID == "" {
		return out, nil
	}
	pub, err := authn.ParseDeviceKey(cam.DeviceKey)
	if err != nil {
		return DeviceCertificate{}, internal("device key", err)
	}
	pemBytes, notAfter, err := s.dev.cfg.CA.IssueDevice(pub, deviceca.Identity{Camera: cam.ID, Generation: cam.Generation}, s.now())
	if err != nil {
		return DeviceCertificate{}, internal("issue certificate", err)
	}
	s.audit(ctx, Caller{Addr: addr}, domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: "device.certificate", Result: domain.ResultOK,
		Detail: "generation " + itoa(cam.Generation)})
	out.Claimed, out.Generation, out.CertPEM, out.NotAfter = true, cam.Generation, pemBytes, notAfter
	return out, nil
}

// AuthenticateDevice checks a client certificate presented to the device
// listener: issued by the device CA, unexpired, for the camera's current
// generation, and for the key the camera enrolled with. It returns the
// camera; any failure is KindUnauthenticated.
func (s *Service) AuthenticateDevice(ctx context.Context, cert *x509.Certificate) (domain.Camera, error) {
	deny := unauthenticated("device certificate not accepted")
	if s.dev.cfg.CA == nil || cert == nil {
		return domain.Camera{}, deny
	}
	id, err := s.dev.cfg.CA.Verify(cert, s.now())
	if err != nil {
		return domain.Camera{}, deny
	}
	cam, err := s.st.Camera(ctx, id.Camera)
	if errors.Is(err, store.ErrNotFound) {
		return domain.Camera{}, deny
	}
	if err != nil {
		return domain.Camera{}, internal("load camera", err)
	}
	key, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil || cam.HomeID == "" || cam.Generation != id.Generation || !bytes.Equal(key, cam.DeviceKey) {
		return domain.Camera{}, deny
	}
	return cam, nil
}

// DeviceSeen records a device's sign of life.
func (s *Service) DeviceSeen(ctx context.Context, cam domain.Camera, agentVersion string) {
	if agentVersion == "" {
		agentVersion = cam.AgentVersion // not reported yet: keep what we know
	}
	if err := s.st.TouchCamera(ctx, cam.ID, s.now(), agentVersion); err != nil {
		s.log.Warn("record device presence", "camera", cam.ID, "err", err)
	}
}

// DeviceEvent records a device's connection events in its home's log.
func (s *Service) DeviceEvent(ctx context.Context, cam domain.Camera, addr, action, detail string) {
	s.audit(ctx, Caller{Addr: addr}, domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: action, Result: domain.ResultOK, Detail: detail})
}

// ClaimCamera adds the device that shows code to home as name. Wrong codes
// are throttled per home and per address.
func (s *Service) ClaimCamera(ctx context.Context, c Caller, home domain.ID, code, name string) (CameraView, error) {
	if _, _, err := s.authorizeHome(ctx, c, home, domain.ActionCameraCreate, ""); err != nil {
		return CameraView{}, err
	}
	name, err := cleanName(name, "camera name")
	if err != nil {
		return CameraView{}, err
	}
	keys := []authn.Key{{Name: "claim-home\x00" + string(home), Policy: claimHomePolicy}, {Name: "claim-addr\x00" + c.Addr, Policy: claimAddrPolicy}}
	if wait := s.throttle.Wait(ctx, keys...); wait > 0 {
		s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "camera.claim", Result: domain.ResultDenied, Detail: "throttled"})
		return CameraView{}, &Error{Kind: KindThrottled, Code: "throttled", Message: "too many wrong claim codes; try again later", RetryAfter: wait}
	}
	wrong := func(detail string) error {
		s.throttle.Fail(ctx, keys...)
		s.audit(ctx, c, domain.AuditEvent{HomeID: home, Action: "camera.claim", Result: domain.ResultFailed, Detail: detail})
		return &Error{Kind: KindInvalid, Code: "bad_claim_code", Message: "that claim code is not valid: check it on the camera, or restart the camera for a new one"}
	}
	hash, err := authn.ParseClaimCode(code)
	if err != nil {
		return CameraView{}, wrong("malformed code")
	}
	cam, err := s.st.ClaimCamera(ctx, hash, home, name, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return CameraView{}, wrong("unknown, used or expired code")
	}
	if err != nil {
		return CameraView{}, internal("claim camera", err)
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: home, CameraID: cam.ID, Action: "camera.claim", Result: domain.ResultOK, Detail: "generation " + itoa(cam.Generation)})
	return s.Camera(ctx, c, cam.ID)
}

// TransferCamera takes a device-backed camera out of its home so that the
// next owner can claim it with the new code the device will show.
// Everything bound to the old generation stops working, and the device's
// key is retired: anyone who copied it (the seller) can no longer get a
// certificate. The device makes a new key and enrols as a new camera.
func (s *Service) TransferCamera(ctx context.Context, c Caller, id domain.ID) error {
	acc, err := s.authorizeCamera(ctx, c, id, domain.ActionTransfer, "camera.transfer")
	if err != nil {
		return err
	}
	if !acc.camera.DeviceBacked() {
		return invalid("only a camera with an enrolled device can be transferred")
	}
	return s.release(ctx, c, acc.camera, "camera.transfer")
}

// release takes cam out of its home, bumping its generation, retires its
// device key, and tells its device. The record stays (state reset) only to
// anchor the data recorded under it; the device enrols afresh with a new
// key, as a new camera. A key that outlives its home would let whoever
// copied it get a certificate for the next owner's generation.
func (s *Service) release(ctx context.Context, c Caller, cam domain.Camera, action string) error {
	rel, err := s.releaseCamera(ctx, cam)
	if err != nil {
		return err
	}
	s.audit(ctx, c, domain.AuditEvent{HomeID: cam.HomeID, CameraID: cam.ID, Action: action, Result: domain.ResultOK,
		Detail: "generation " + itoa(cam.Generation) + " ended; now " + itoa(rel.Generation)})
	s.presence().Released(cam.ID)
	s.scheduleShred(ctx, cam, false) // the old home's recordings, after its export window
	return nil
}

// releaseCamera ends cam's generation in the store (state reset, device
// key retired) and, with it, every live stream of that generation.
func (s *Service) releaseCamera(ctx context.Context, cam domain.Camera) (domain.Camera, error) {
	var rel domain.Camera
	err := s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		var err error
		rel, err = s.st.ReleaseCamera(ctx, cam.ID, cam.Generation, domain.CameraStateReset, true)
		switch {
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			return nil, conflict("the camera changed meanwhile; reload and try again")
		case err != nil:
			return nil, internal("release camera", err)
		}
		return []events.Event{cameraEnded(cam.ID, rel.Generation)}, nil
	})
	return rel, err
}

// deleteCamera deletes a camera without a device and ends its live
// streams.
func (s *Service) deleteCamera(ctx context.Context, id domain.ID) error {
	return s.withdrawing(ctx, func(ctx context.Context) ([]events.Event, error) {
		if err := s.st.DeleteCamera(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, notFound()
			}
			return nil, internal("delete camera", err)
		}
		return []events.Event{cameraEnded(id, 0)}, nil
	})
}

// DeviceReset is a device's factory reset, asked over its authenticated
// control connection: the camera leaves its home, its generation
// increases, and its key is retired, so the old certificate is refused from
// now on. The reset device enrols afresh as a new camera.
func (s *Service) DeviceReset(ctx context.Context, cam domain.Camera, addr string) error {
	return s.release(ctx, Caller{Addr: addr}, cam, "camera.reset")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
