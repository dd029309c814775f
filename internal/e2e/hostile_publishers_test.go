package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// TestHostilePublishers: with a genuine device certificate, a publisher
// that claims another camera's path is refused at ANNOUNCE, and streams
// unsigned or signed with another key are cut; other cameras are not
// disturbed.
func TestHostilePublishers(t *testing.T) {
	s := startServer(t, nil)
	o := s.setup("ana@example.org", "Casa")
	dir := t.TempDir()
	cam, stop := claimed(t, s, o, dir, "builtin:porch", "Porch")
	stop()

	keyPEM, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))
	certPEM, _ := os.ReadFile(filepath.Join(dir, "device-cert.pem"))
	serverJSON, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	var st struct {
		CA string `json:"ca"`
	}
	json.Unmarshal(serverJSON, &st)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(st.CA))
	ingest := ingestURL(t, s)

	publish := func(path string, sign func(au [][]byte, i int) [][]byte) error {
		forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
		desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
		host := strings.TrimPrefix(ingest, "rtsps://")
		c := &gortsplib.Client{Scheme: "rtsps", Host: host, TLSConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "localhost"}}
		if err := c.StartRecording(ingest+path, desc); err != nil {
			return err
		}
		defer c.Close()
		enc, _ := forma.CreateEncoder()
		aus := bitstream.AccessUnits(bitstream.H264, bitstream.SplitAnnexB(clips.PorchH264))
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		for i, au := range aus[:100] {
			pkts, _ := enc.Encode(sign(au, i))
			for _, p := range pkts {
				p.Timestamp = uint32(i * 6000)
				if err := c.WritePacketRTP(desc.Medias[0], p); err != nil {
					return err
				}
			}
			select {
			case err := <-done:
				return err
			case <-time.After(5 * time.Millisecond):
			}
		}
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Second):
			return nil
		}
	}

	// Another camera's path: refused before any video flows.
	if err := publish("/cameras/"+string(domain.NewID()), func(au [][]byte, _ int) [][]byte { return au }); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("publishing as another camera: %v, want 403", err)
	}
	// Unsigned video: cut at the second GOP.
	if err := publish("/cameras/"+cam, func(au [][]byte, _ int) [][]byte { return au }); err == nil {
		t.Fatal("an unsigned stream was not cut")
	}
	// Signed with another key: cut.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer := videosig.NewSigner(bitstream.H264, other, domain.ID(cam), 1)
	err := publish("/cameras/"+cam, func(au [][]byte, i int) [][]byte {
		out, _ := signer.Sign(au, time.Now())
		return out
	})
	if err == nil {
		t.Fatal("a stream signed with another key was not cut")
	}
	if v := s.metric(`camvault_ingest_streams_total{event="refused"}`); v == "" || v == "0" || strings.HasPrefix(v, "(no") {
		t.Fatalf("refused streams metric: %s", v)
	}
	t.Logf("refused streams: %s", s.metric(`camvault_ingest_streams_total{event="refused"}`))
}

// ingestURL reads the ingest URL from the server log.
func ingestURL(t *testing.T, s *server) string {
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if i := strings.Index(line, `msg="video ingest"`); i >= 0 {
			if j := strings.Index(line, "url="); j >= 0 {
				return strings.Fields(line[j+4:])[0]
			}
		}
	}
	t.Fatal("no ingest URL in the server log")
	return ""
}
