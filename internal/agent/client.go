package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/camvault/camvault/internal/authn"
)

// client talks to the server's device endpoints under /api/v1/devices.
type client struct {
	base string
	http *http.Client
	id   *atomic.Pointer[identity] // the device key, which the agent may replace
	ver  string
}

// apiError is a non-2xx answer.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// maxResponse bounds what the agent reads from the server.
const maxResponse = 1 << 20

func (c *client) post(ctx context.Context, path string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "camvault-agent/"+c.ver)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		ae := &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			ae.RetryAfter = time.Duration(s) * time.Second
		}
		return resp.StatusCode, ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

type proofBody struct {
	PublicKey    []byte `json:"public_key"`
	Nonce        string `json:"nonce"`
	Signature    []byte `json:"signature"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// proof answers a fresh server challenge for purpose.
func (c *client) proof(ctx context.Context, purpose string) (proofBody, error) {
	var ch struct {
		Nonce string `json:"nonce"`
	}
	if _, err := c.post(ctx, "/api/v1/devices/challenge", struct{}{}, &ch); err != nil {
		return proofBody{}, err
	}
	id := c.id.Load() // one key for both the signature and the public key
	sig, err := authn.SignProof(id.key, purpose, ch.Nonce)
	if err != nil {
		return proofBody{}, err
	}
	return proofBody{PublicKey: id.der, Nonce: ch.Nonce, Signature: sig, AgentVersion: c.ver}, nil
}

// enrollment is the server's answer to an enrolment.
type enrollment struct {
	CameraID       string    `json:"camera_id"`
	Claimed        bool      `json:"claimed"`
	ClaimCode      string    `json:"claim_code"`
	ClaimExpiresAt time.Time `json:"claim_expires_at"`
	CA             string    `json:"ca"`
	DeviceURL      string    `json:"device_url"`
}

func (c *client) enroll(ctx context.Context) (enrollment, error) {
	var e enrollment
	p, err := c.proof(ctx, authn.ProofEnroll)
	if err != nil {
		return e, err
	}
	_, err = c.post(ctx, "/api/v1/devices/enroll", p, &e)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "key_retired" {
		return e, errKeyRetired
	}
	return e, err
}

// errKeyRetired: the server retired this device's key when its camera
// left a home; the device must make a new one.
var errKeyRetired = errors.New("device key retired")

// certificate is the server's answer to a certificate request.
type certificate struct {
	CameraID    string    `json:"camera_id"`
	Claimed     bool      `json:"claimed"`
	Generation  int64     `json:"generation"`
	Certificate string    `json:"certificate"`
	NotAfter    time.Time `json:"not_after"`
	CA          string    `json:"ca"`
	DeviceURL   string    `json:"device_url"`
}

// errNotEnrolled: the server does not know this device's key.
var errNotEnrolled = errors.New("device not enrolled")

func (c *client) certificate(ctx context.Context) (certificate, error) {
	var out certificate
	p, err := c.proof(ctx, authn.ProofCertificate)
	if err != nil {
		return out, err
	}
	_, err = c.post(ctx, "/api/v1/devices/certificate", p, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return out, errNotEnrolled
	}
	if err == nil && !strings.HasPrefix(out.DeviceURL, "wss://") {
		return out, fmt.Errorf("server gave a device URL that is not wss://")
	}
	return out, err
}
