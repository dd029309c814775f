package ingest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"image"
	"image/jpeg"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/camvault/camvault/internal/netguard"
)

// testJPEG is a small real JPEG.
func testJPEG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 32, 24)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// snapshotCamera is an HTTP camera: it answers /basic (HTTP Basic),
// /digest (Digest, MD5, qop auth), /open, /html, /huge and /moved.
func snapshotCamera(t *testing.T, user, pass string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	pic := testJPEG(t)
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/basic", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(pic)
	})
	mux.HandleFunc("/digest", func(w http.ResponseWriter, r *http.Request) {
		const realm, nonce = "IP Camera", "5f3c2b1a"
		h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
		p := digestParams(r.Header.Get("Authorization"))
		want := h(h(user+":"+realm+":"+pass) + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + h("GET:"+r.URL.RequestURI()))
		if p["username"] != user || p["uri"] != r.URL.RequestURI() || p["response"] != want || p["opaque"] != "op" {
			w.Header().Add("WWW-Authenticate", `Basic realm="weak"`)
			w.Header().Add("WWW-Authenticate", `Digest realm="`+realm+`", qop="auth,auth-int", nonce="`+nonce+`", opaque="op", algorithm=MD5`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(pic)
	})
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) { w.Write(pic) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>login</html>")) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write(pic[:3])
		w.Write(make([]byte, maxSnapshotBytes))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/open", http.StatusFound) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); mux.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// digestParams reads a Digest Authorization header, for the test camera.
func digestParams(h string) map[string]string {
	p := map[string]string{}
	rest, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		return p
	}
	for f := range strings.SplitSeq(rest, ", ") {
		k, v, _ := strings.Cut(f, "=")
		p[k] = strings.Trim(v, `"`)
	}
	return p
}

func TestFetchSnapshot(t *testing.T) {
	srv, hits := snapshotCamera(t, "admin", "pa:ss word")
	lo, _ := netguard.Parse("127.0.0.0/8")
	def, _ := netguard.Parse(netguard.LANNetworks)
	u, _ := url.Parse(srv.URL)
	with := func(userinfo, path string) string {
		return "http://" + userinfo + u.Host + path
	}
	_, port, _ := net.SplitHostPort(u.Host)
	for _, tc := range []struct {
		name   string
		nets   netguard.Policy
		url    string
		want   error
		noHits bool
	}{
		{"basic", lo, with(url.UserPassword("admin", "pa:ss word").String()+"@", "/basic"), nil, false},
		{"digest", lo, with("admin:pa%3Ass%20word@", "/digest?ch=1"), nil, false},
		{"no credentials needed", lo, with("", "/open"), nil, false},
		{"wrong password", lo, with("admin:nope@", "/basic"), errSnapshotAuth, false},
		{"wrong digest password", lo, with("admin:nope@", "/digest"), errSnapshotAuth, false},
		{"no credentials", lo, with("", "/basic"), errSnapshotAuth, false},
		{"not a JPEG", lo, with("", "/html"), errSnapshotNotJPEG, false},
		{"too large", lo, with("", "/huge"), errSnapshotTooLarge, false},
		{"redirect", lo, with("", "/moved"), errSnapshotStatus, false},
		{"missing", lo, with("", "/nothing"), errSnapshotStatus, false},
		{"loopback by default", def, with("admin:x@", "/open"), errSnapshotRefused, true},
		{"a name for loopback", def, "http://localhost:" + port + "/open", errSnapshotRefused, true},
		{"nothing allowed", netguard.Policy{}, with("", "/open"), errSnapshotRefused, true},
		{"closed port", lo, "http://127.0.0.1:" + closedPort(t) + "/open", errSnapshotUnreachable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			pic, err := FetchSnapshot(context.Background(), tc.nets, tc.url)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && !isJPEG(pic) {
				t.Fatal("not the picture")
			}
			if err != nil && (strings.Contains(err.Error(), "word") || strings.Contains(err.Error(), "127.0.0.1")) {
				t.Fatalf("the error quotes the URL: %v", err)
			}
			if tc.noHits && hits.Load() != before {
				t.Fatal("the camera was reached")
			}
		})
	}
}

// closedPort is a port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// TestDigestAnswer checks the answers against RFC 7616's example.
func TestDigestAnswer(t *testing.T) {
	const challenge = `realm="http-auth@example.org", qop="auth, auth-int", algorithm=%s, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
	for alg, want := range map[string]string{
		"MD5":     "8ca523f5e9506fed4657c9700eebdbec",
		"SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		d, ok := parseDigest(strings.Replace(challenge, "%s", alg, 1))
		if !ok {
			t.Fatalf("%s: challenge refused", alg)
		}
		got := d.answer("Mufasa", "Circle of Life", "GET", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
		if p := digestParams(got); p["response"] != want || p["opaque"] != "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS" || p["qop"] != "auth" {
			t.Errorf("%s: %s", alg, got)
		}
	}
	for _, bad := range []string{`realm="x"`, `nonce="n", algorithm=MD5-sess`, `nonce="n", qop="auth-int"`, `nonce="unterminated`, `nonce`} {
		if _, ok := parseDigest(bad); ok {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(`realm="cam", nonce="abc", qop="auth", opaque="o"`)
	f.Add(`realm="a\"b", nonce=plain, algorithm=SHA-256`)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDigest(s)
		if !ok {
			return
		}
		h := d.answer("user", "pass", "GET", "/snap.jpg", "cn")
		if !strings.HasPrefix(h, "Digest ") || d.nonce == "" {
			t.Fatalf("%q → %q", s, h)
		}
	})
}
