package ingest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/netguard"
)

// Limits of fetching a pulled camera's snapshot URL.
const (
	// snapshotTimeout bounds one fetch.
	snapshotTimeout = 5 * time.Second
	// maxSnapshotBytes bounds one picture, as the service does.
	maxSnapshotBytes  = 1 << 20
	maxChallengeBytes = 4 << 10
)

// Why a snapshot URL gave no picture. The texts name no URL: they are
// logged.
var (
	errSnapshotUnreachable = errors.New("the snapshot URL did not answer")
	errSnapshotRefused     = errors.New("the snapshot URL's address is not in live.pull_networks")
	errSnapshotAuth        = errors.New("the camera refused the snapshot URL's credentials")
	errSnapshotStatus      = errors.New("the snapshot URL answered with an error")
	errSnapshotTooLarge    = errors.New("the snapshot is larger than 1 MiB")
	errSnapshotNotJPEG     = errors.New("the snapshot URL did not answer with a JPEG")
)

// FetchSnapshot gets a JPEG from a camera's snapshot URL (http or https,
// user information allowed: it becomes HTTP Basic or Digest
// authentication, sent only when the camera asks). Every connection is
// checked against nets at the address actually dialled; redirects are
// not followed; the answer must be a JPEG of at most 1 MiB, within five
// seconds. Errors never carry the URL: they may be logged.
func FetchSnapshot(ctx context.Context, nets netguard.Policy, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errSnapshotStatus
	}
	user := u.User
	u.User = nil
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:       nets.DialContext, // no proxy: it would dial for us
		DisableKeepAlives: true, MaxResponseHeaderBytes: 16 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := getSnapshot(ctx, client, u, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && user != nil {
		auth := authorization(resp.Header.Values("WWW-Authenticate"), user, u.RequestURI())
		drain(resp)
		if auth == "" {
			return nil, errSnapshotAuth
		}
		if resp, err = getSnapshot(ctx, client, u, auth); err != nil {
			return nil, err
		}
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, errSnapshotAuth
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w (%d)", errSnapshotStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshotBytes+1))
	switch {
	case err != nil:
		return nil, errSnapshotUnreachable
	case len(body) > maxSnapshotBytes:
		return nil, errSnapshotTooLarge
	case !isJPEG(body):
		return nil, errSnapshotNotJPEG
	}
	return body, nil
}

// isJPEG reports whether b starts like a JPEG and its header decodes.
func isJPEG(b []byte) bool {
	if !bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}) {
		return false
	}
	_, err := jpeg.DecodeConfig(bytes.NewReader(b))
	return err == nil
}

func getSnapshot(ctx context.Context, client *http.Client, u *url.URL, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errSnapshotStatus
	}
	req.Header.Set("Accept", "image/jpeg")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	switch {
	case errors.Is(err, netguard.ErrRefused):
		return nil, errSnapshotRefused
	case err != nil:
		return nil, errSnapshotUnreachable // its text would quote the URL
	}
	return resp, nil
}

// drain reads a little of what is left, so the connection ends cleanly,
// and closes the body.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// authorization answers a camera's challenges: Digest (MD5 or SHA-256,
// qop auth or none) when offered, else Basic; "" when neither is.
func authorization(challenges []string, user *url.Userinfo, uri string) string {
	name := user.Username()
	pass, _ := user.Password()
	basic := false
	for _, ch := range challenges {
		if len(ch) > maxChallengeBytes {
			continue
		}
		scheme, rest, _ := strings.Cut(strings.TrimSpace(ch), " ")
		switch strings.ToLower(scheme) {
		case "digest":
			if d, ok := parseDigest(rest); ok {
				return d.answer(name, pass, http.MethodGet, uri, rand.Text())
			}
		case "basic":
			basic = true
		}
	}
	if basic {
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(name, pass)
		return req.Header.Get("Authorization")
	}
	return ""
}

// digestChallenge is what a Digest challenge asks (RFC 7616).
type digestChallenge struct {
	realm, nonce, opaque, algorithm string
	qopAuth                         bool
	newHash                         func() hash.Hash
}

// parseDigest reads a Digest challenge's parameters: comma-separated
// name=value pairs, values plain or quoted (with backslash escapes).
func parseDigest(s string) (digestChallenge, bool) {
	params := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, ", \t") {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return digestChallenge{}, false
		}
		name = strings.ToLower(strings.TrimSpace(name))
		rest = strings.TrimLeft(rest, " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return digestChallenge{}, false // unterminated
			}
			val, s = b.String(), rest[i+1:]
		} else {
			val, s, _ = strings.Cut(rest, ",")
			val = strings.TrimSpace(val)
		}
		params[name] = val
	}
	d := digestChallenge{realm: params["realm"], nonce: params["nonce"], opaque: params["opaque"], algorithm: params["algorithm"]}
	switch strings.ToUpper(d.algorithm) {
	case "", "MD5":
		d.newHash = md5.New
	case "SHA-256":
		d.newHash = sha256.New
	default:
		return digestChallenge{}, false // -sess variants and others: not offered by cameras we know
	}
	if d.nonce == "" {
		return digestChallenge{}, false
	}
	if qop, ok := params["qop"]; ok {
		for q := range strings.SplitSeq(qop, ",") {
			d.qopAuth = d.qopAuth || strings.TrimSpace(q) == "auth"
		}
		if !d.qopAuth {
			return digestChallenge{}, false // auth-int only
		}
	}
	return d, true
}

// answer is the Authorization header answering d with the client nonce
// cnonce.
func (d digestChallenge) answer(user, pass, method, uri, cnonce string) string {
	h := func(s string) string {
		x := d.newHash()
		io.WriteString(x, s)
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1, ha2 := h(user+":"+d.realm+":"+pass), h(method+":"+uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%s, realm=%s, nonce=%s, uri=%s`, quote(user), quote(d.realm), quote(d.nonce), quote(uri))
	if d.qopAuth {
		fmt.Fprintf(&b, `, qop=auth, nc=00000001, cnonce=%s, response=%s`, quote(cnonce), quote(h(ha1+":"+d.nonce+":00000001:"+cnonce+":auth:"+ha2)))
	} else {
		fmt.Fprintf(&b, `, response=%s`, quote(h(ha1+":"+d.nonce+":"+ha2)))
	}
	if d.algorithm != "" {
		fmt.Fprintf(&b, `, algorithm=%s`, d.algorithm)
	}
	if d.opaque != "" {
		fmt.Fprintf(&b, `, opaque=%s`, quote(d.opaque))
	}
	return b.String()
}

// quote makes s a quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
