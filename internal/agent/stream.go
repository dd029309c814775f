package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// clip is a looping Annex-B source: its access units and frame rate.
type clip struct {
	codec bitstream.Codec
	aus   [][][]byte
	fps   int
}

// loadClip reads a file source (H.264 or H.265 Annex-B; ".h265"/".hevc"
// mean H.265), or the built-in clip for "builtin:porch".
func loadClip(src Source) (*clip, error) {
	var data []byte
	codec := bitstream.H264
	switch {
	case src.Kind == "builtin":
		data = clips.PorchH264
	case src.Kind == "file" && (strings.HasSuffix(src.Location, ".mp4") || strings.HasSuffix(src.Location, ".mov")):
		return loadMP4(src.Location)
	case src.Kind == "file":
		b, err := os.ReadFile(src.Location)
		if err != nil {
			return nil, err
		}
		data, codec = b, bitstream.CodecOfFile(src.Location)
	default:
		return nil, fmt.Errorf("%s sources stream in a later version", src.Kind)
	}
	aus := bitstream.AccessUnits(codec, bitstream.SplitAnnexB(data))
	if len(aus) == 0 {
		return nil, errors.New("the file holds no H.264/H.265 Annex-B video")
	}
	// Start at the first keyframe so that the loop joins cleanly.
	for i, au := range aus {
		if bitstream.HasKey(codec, au) {
			aus = aus[i:]
			break
		}
	}
	return &clip{codec: codec, aus: aus, fps: clips.FPS}, nil
}

// paramSets returns the clip's parameter sets for the SDP.
func (c *clip) paramSets() (vps, sps, pps []byte) { return bitstream.ParamSets(c.codec, c.aus[0]) }

// frames is a running video source: its codec and parameter sets, and
// the next access unit with its presentation time (blocking as long as the
// source needs: a file is paced at real time, a camera at its own pace).
type frames interface {
	codec() bitstream.Codec
	params() (vps, sps, pps []byte)
	next(ctx context.Context) ([][]byte, time.Duration, error)
	close()
}

// openFrames starts the configured source.
func (a *Agent) openFrames(ctx context.Context) (frames, error) {
	switch a.cfg.Source.Kind {
	case "rtsp":
		return openRTSP(ctx, a.cfg.Source.Location)
	case "device":
		return openDevice(ctx, a.cfg.Source.Location, a.log.With("source", a.cfg.Source.String()))
	}
	c, err := loadClip(a.cfg.Source)
	if err != nil {
		return nil, err
	}
	return &clipFrames{c: c, start: time.Now()}, nil
}

// clipFrames loops a clip at real-time rate with continuous timestamps.
type clipFrames struct {
	c     *clip
	start time.Time
	n     int
}

func (f *clipFrames) codec() bitstream.Codec         { return f.c.codec }
func (f *clipFrames) params() (vps, sps, pps []byte) { return f.c.paramSets() }
func (f *clipFrames) close()                         {}

func (f *clipFrames) next(ctx context.Context) ([][]byte, time.Duration, error) {
	pts := time.Duration(f.n) * time.Second / time.Duration(f.c.fps)
	select {
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	case <-time.After(time.Until(f.start.Add(pts))):
	}
	au := f.c.aus[f.n%len(f.c.aus)]
	f.n++
	return au, pts, nil
}

// push publishes the source to target (rtsps://host/cameras/{id}) with the
// device certificate, signing every GOP, until ctx ends or the server
// refuses.
func (a *Agent) push(ctx context.Context, target string, cert *deviceCert) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "rtsps" {
		return fmt.Errorf("bad stream URL")
	}
	src, err := a.openFrames(ctx)
	if err != nil {
		return err
	}
	defer src.close()
	conf, _, err := a.tlsConfig(cert)
	if err != nil {
		return err
	}
	conf.ServerName = u.Hostname()
	vps, sps, pps := src.params()
	var forma format.Format
	if src.codec() == bitstream.H265 {
		forma = &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	} else {
		forma = &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	tcp := gortsplib.ProtocolTCP
	rc := &gortsplib.Client{Scheme: "rtsps", Host: u.Host, TLSConfig: conf, Protocol: &tcp, DialTLSContext: dialCoalescing(conf)}
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
	gen := a.Status().Generation
	signer := videosig.NewSigner(src.codec(), cert.key, domain.ID(cert.leaf.Subject.CommonName), gen)
	var rnd [4]byte
	rand.Read(rnd[:])
	base := binary.BigEndian.Uint32(rnd[:])
	a.update(func(s *Status) { s.Streaming = true })
	defer a.update(func(s *Status) { s.Streaming = false })
	a.log.Info("streaming", "url", target, "codec", forma.Codec())
	done := make(chan error, 1)
	go func() { done <- rc.Wait() }()
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		select {
		case <-fctx.Done():
		case err := <-done:
			done <- err
			fcancel()
		}
	}()
	detector := motionDetector{Factor: a.cfg.MotionFactor, MinBytes: 512, Hold: 2 * time.Second}
	for {
		au, pts, err := src.next(fctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			select {
			case err := <-done:
				return fmt.Errorf("the server ended the stream: %w", err)
			default:
			}
			return fmt.Errorf("source: %w", err)
		}
		now := time.Now()
		key := bitstream.HasKey(src.codec(), au)
		if key {
			a.keyframe.keep(src.codec(), gen, vps, sps, pps, au, now)
		}
		size := 0
		for _, n := range au {
			size += len(n)
		}
		if score := detector.frame(size, key, now); score > 0 {
			a.Motion(now, score)
		}
		signed, err := signer.Sign(au, now)
		if err != nil {
			return err
		}
		pkts, err := encode(signed)
		if err != nil {
			return err
		}
		ts := base + uint32(int64(pts)*90000/int64(time.Second))
		for _, p := range pkts {
			p.Timestamp = ts
			if err := rc.WritePacketRTPWithNTP(desc.Medias[0], p, now); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}

// snapshotJPEG returns a picture of the source: the built-in clip's, a
// JPEG shipped beside a file source (clip.h264 → clip.jpg), or else a
// keyframe decoded by ffmpeg when it is installed. Its errors are short
// and safe to send to the server; details go to the log.
func (a *Agent) snapshotJPEG() ([]byte, error) {
	kind := a.cfg.Source.Kind
	switch kind {
	case "builtin":
		return clips.PorchFirstFrame, nil
	case "file":
		base := strings.TrimSuffix(a.cfg.Source.Location, filepath.Ext(a.cfg.Source.Location))
		for _, ext := range []string{".jpg", ".jpeg"} {
			if b, err := os.ReadFile(base + ext); err == nil {
				return b, nil
			}
		}
	}
	ffmpeg, err := lookFFmpeg()
	if err != nil {
		if kind == "file" {
			return nil, errors.New("no JPEG beside the file source, and ffmpeg, which would make one, is not installed")
		}
		return nil, fmt.Errorf("snapshots of %s sources need ffmpeg, which is not installed", kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotBudget)
	defer cancel()
	kf, err := a.snapshotKeyframe(ctx)
	if err == nil {
		var jpeg []byte
		if jpeg, err = jpegOf(ctx, ffmpeg, kf); err == nil {
			return jpeg, nil
		}
	}
	a.log.Warn("snapshot failed", "source", a.cfg.Source.String(), "err", err)
	return nil, errors.New("the agent could not make a snapshot of its source")
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

// maxClipBytes bounds a file source read into memory.
const maxClipBytes = 512 << 20

// loadMP4 reads the first H.264 or H.265 track of an MP4 file. Parameter
// sets, kept out of band in MP4, go before every keyframe so that viewers
// can join at any GOP.
func loadMP4(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() > maxClipBytes {
		return nil, errors.New("the MP4 file is too large to loop (512 MiB at most)")
	}
	var p pmp4.Presentation
	if err := p.Unmarshal(f); err != nil {
		return nil, fmt.Errorf("MP4: %w", err)
	}
	for _, tr := range p.Tracks {
		var c clip
		var params [][]byte
		switch codec := tr.Codec.(type) {
		case *mp4.CodecH264:
			c.codec, params = bitstream.H264, [][]byte{codec.SPS, codec.PPS}
		case *mp4.CodecH265:
			c.codec, params = bitstream.H265, [][]byte{codec.VPS, codec.SPS, codec.PPS}
		default:
			continue
		}
		var total uint64
		for _, smp := range tr.Samples {
			payload, err := smp.GetPayload()
			if err != nil {
				return nil, fmt.Errorf("MP4: %w", err)
			}
			au, err := bitstream.SplitAVCC(payload)
			if err != nil {
				return nil, fmt.Errorf("MP4 sample: %w", err)
			}
			if !smp.IsNonSyncSample {
				au = append(append([][]byte{}, params...), au...)
			}
			c.aus = append(c.aus, au)
			total += uint64(smp.Duration)
		}
		if len(c.aus) == 0 || total == 0 {
			return nil, errors.New("MP4: the video track is empty")
		}
		c.fps = int(math.Round(float64(len(c.aus)) * float64(tr.TimeScale) / float64(total)))
		if c.fps < 1 || c.fps > 120 {
			c.fps = 15
		}
		return &c, nil
	}
	return nil, errors.New("MP4: no H.264 or H.265 video track")
}
