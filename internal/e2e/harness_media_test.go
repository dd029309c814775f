package e2e

// The harness's video side: the built-in clip as access units, a LAN
// camera serving it, the trust an agent holds, a real RTSPS viewer, and
// snapshots.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
)

// porch returns the built-in clip's access units and parameter sets.
func porch() (aus [][][]byte, sps, pps []byte) {
	aus = bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(clips.PorchH264))
	for _, n := range aus[0] {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	return aus, sps, pps
}

// agentTrust returns the device CA (which also signs the viewer RTSPS
// certificate on a server without TLS of its own) and the device's public
// key, from an agent's state dir.
func agentTrust(t *testing.T, dir string) (*x509.CertPool, []byte) {
	t.Helper()
	serverJSON, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	var st struct {
		CA string `json:"ca"`
	}
	json.Unmarshal(serverJSON, &st)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(st.CA))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	blk, _ := pem.Decode(keyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	der, _ := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	return pool, der
}

// watchRTSP asks s for an RTSPS stream of camera as token, plays it,
// trusting pool, until a frame comes, and returns a channel closed when
// the stream ends.
func watchRTSP(t *testing.T, s *server, token, camera string, pool *x509.CertPool) <-chan error {
	t.Helper()
	done, err := tryWatchRTSP(t, s, token, camera, pool)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

// tryWatchRTSP is watchRTSP that returns the player's error.
func tryWatchRTSP(t *testing.T, s *server, token, camera string, pool *x509.CertPool) (<-chan error, error) {
	t.Helper()
	streamURL := s.must(token, "POST", "/api/v1/cameras/"+camera+"/streams", map[string]any{"protocol": "rtsp"}, 201)["url"].(string)
	var got atomic.Int64
	_, done, err := rtspViewer(t, streamURL, pool, func([][]byte) { got.Add(1) })
	if err != nil {
		return nil, err
	}
	waitFor(t, "frames at "+s.url, func() bool { return got.Load() > 0 })
	return done, nil
}

// rtspViewer plays url with a real RTSPS client, trusting pool, and hands
// each access unit to onAU. It returns the client and a channel closed when
// the session ends.
func rtspViewer(t *testing.T, url string, pool *x509.CertPool, onAU func([][]byte)) (*gortsplib.Client, <-chan error, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		t.Fatal("no H.264 in the stream")
	}
	dec, _ := forma.CreateDecoder()
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil {
			onAU(au)
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	t.Cleanup(c.Close)
	return c, done, nil
}

// startLANCamera serves the built-in clip over plain RTSP like a LAN IP
// camera and returns its address.
func startLANCamera(t *testing.T) string {
	t.Helper()
	aus, sps, pps := porch()
	forma := &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &lanCamera{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: l.Addr().String(), Listen: func(string, string) (net.Listener, error) { return l, nil }}
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		enc, _ := forma.CreateEncoder()
		for i := 0; ctx.Err() == nil; i++ {
			pkts, _ := enc.Encode(aus[i%len(aus)])
			for _, p := range pkts {
				p.Timestamp = uint32(i * 6000)
				h.stream.WritePacketRTP(medi, p)
			}
			time.Sleep(time.Second / 15)
		}
	}()
	t.Cleanup(func() { cancel(); h.stream.Close(); srv.Close() })
	return l.Addr().String()
}

// lanCamera is a minimal RTSP camera.
type lanCamera struct{ stream *gortsplib.ServerStream }

func (h *lanCamera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *lanCamera) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *lanCamera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// requireFFmpeg skips the test when ffmpeg is not installed.
func requireFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; install it (apt install ffmpeg) to test capture devices and snapshots")
	}
}

// fetchSnapshot asks the server for the camera's snapshot as token.
func fetchSnapshot(t *testing.T, s *server, token, cam string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/cameras/"+cam+"/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot of type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

// decodeJPEG checks that b is a JPEG of w×h pixels.
func decodeJPEG(t *testing.T, b []byte, w, h int) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG (%d bytes): %v", len(b), err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("a %v picture, want %dx%d", got, w, h)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
