package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// clip is a looping Annex-B source: its access units and frame rate.
type clip struct {
	codec videosig.Codec
	aus   [][][]byte
	fps   int
}

// loadClip reads a file source (H.264 or H.265 Annex-B; ".h265"/".hevc"
// mean H.265), or the built-in clip for "builtin:porch".
func loadClip(src Source) (*clip, error) {
	var data []byte
	codec := videosig.H264
	switch {
	case src.Kind == "builtin":
		data = clips.PorchH264
	case src.Kind == "file":
		b, err := os.ReadFile(src.Location)
		if err != nil {
			return nil, err
		}
		data = b
		if strings.HasSuffix(src.Location, ".h265") || strings.HasSuffix(src.Location, ".hevc") {
			codec = videosig.H265
		}
	default:
		return nil, fmt.Errorf("%s sources stream in a later version", src.Kind)
	}
	aus := videosig.AccessUnits(codec, videosig.SplitAnnexB(data))
	if len(aus) == 0 {
		return nil, errors.New("the file holds no H.264/H.265 Annex-B video")
	}
	// Start at the first keyframe so that the loop joins cleanly.
	for i, au := range aus {
		if hasKey(codec, au) {
			aus = aus[i:]
			break
		}
	}
	return &clip{codec: codec, aus: aus, fps: clips.FPS}, nil
}

func hasKey(codec videosig.Codec, au [][]byte) bool {
	for _, n := range au {
		if videosig.IsKey(codec, n) {
			return true
		}
	}
	return false
}

// paramSets returns the clip's parameter sets for the SDP.
func (c *clip) paramSets() (vps, sps, pps []byte) {
	for _, n := range c.aus[0] {
		switch {
		case c.codec == videosig.H264 && n[0]&0x1f == 7:
			sps = n
		case c.codec == videosig.H264 && n[0]&0x1f == 8:
			pps = n
		case c.codec == videosig.H265 && (n[0]>>1)&0x3f == 32:
			vps = n
		case c.codec == videosig.H265 && (n[0]>>1)&0x3f == 33:
			sps = n
		case c.codec == videosig.H265 && (n[0]>>1)&0x3f == 34:
			pps = n
		}
	}
	return
}

// push publishes the source to target (rtsps://host/cameras/{id}) with the
// device certificate, signing every GOP, until ctx ends or the server
// refuses.
func (a *Agent) push(ctx context.Context, target string, cert *deviceCert) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "rtsps" {
		return fmt.Errorf("bad stream URL")
	}
	c, err := loadClip(a.cfg.Source)
	if err != nil {
		return err
	}
	conf, _, err := a.tlsConfig(cert)
	if err != nil {
		return err
	}
	conf.ServerName = u.Hostname()
	vps, sps, pps := c.paramSets()
	var forma format.Format
	if c.codec == videosig.H265 {
		forma = &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	} else {
		forma = &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	tcp := gortsplib.ProtocolTCP
	rc := &gortsplib.Client{Scheme: "rtsps", Host: u.Host, TLSConfig: conf, Protocol: &tcp}
	if err := rc.StartRecording(target, desc); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer rc.Close()
	var encode func([][]byte) ([]*rtp.Packet, error)
	if h, ok := forma.(*format.H265); ok {
		enc, err := h.CreateEncoder()
		if err != nil {
			return err
		}
		encode = enc.Encode
	} else {
		enc, err := forma.(*format.H264).CreateEncoder()
		if err != nil {
			return err
		}
		encode = enc.Encode
	}
	signer := videosig.NewSigner(c.codec, a.key, domain.ID(cert.leaf.Subject.CommonName), a.Status().Generation)
	var rnd [4]byte
	rand.Read(rnd[:])
	base := binary.BigEndian.Uint32(rnd[:])
	frame := time.Second / time.Duration(c.fps)
	start := time.Now()
	a.update(func(s *Status) { s.Streaming = true })
	defer a.update(func(s *Status) { s.Streaming = false })
	a.log.Info("streaming", "url", target, "codec", forma.Codec())
	done := make(chan error, 1)
	go func() { done <- rc.Wait() }()
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * frame)
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			return fmt.Errorf("the server ended the stream: %w", err)
		case <-time.After(time.Until(due)):
		}
		au, err := signer.Sign(c.aus[n%len(c.aus)], due)
		if err != nil {
			return err
		}
		pkts, err := encode(au)
		if err != nil {
			return err
		}
		ts := base + uint32(int64(n)*90000/int64(c.fps))
		for _, p := range pkts {
			p.Timestamp = ts
			if err := rc.WritePacketRTPWithNTP(desc.Medias[0], p, due); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}

// snapshotJPEG returns a picture of the source: the built-in clip's, or a
// JPEG shipped beside a file source (clip.h264 → clip.jpg).
func (a *Agent) snapshotJPEG() ([]byte, error) {
	switch a.cfg.Source.Kind {
	case "builtin":
		return clips.PorchFirstFrame, nil
	case "file":
		base := strings.TrimSuffix(a.cfg.Source.Location, filepath.Ext(a.cfg.Source.Location))
		for _, ext := range []string{".jpg", ".jpeg"} {
			if b, err := os.ReadFile(base + ext); err == nil {
				return b, nil
			}
		}
		return nil, errors.New("no JPEG beside the file source (and snapshots through ffmpeg come in a later version)")
	}
	return nil, fmt.Errorf("%s sources cannot make snapshots yet", a.cfg.Source.Kind)
}

// uploadSnapshot sends a JPEG to the device listener with the device
// certificate.
func (a *Agent) uploadSnapshot(ctx context.Context, cert *deviceCert, jpeg []byte) error {
	conf, deviceURL, err := a.tlsConfig(cert)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+strings.TrimPrefix(deviceURL, "wss://")+"/device/v1/snapshot", bytes.NewReader(jpeg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return nil
}
