package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"os"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camvault/camvault/internal/agent"
	"github.com/camvault/camvault/internal/bitstream"
	"github.com/camvault/camvault/internal/clips"
)

// feed plays a clip at real-time rate, looping, and remembers when each
// picture left it, so that viewers can measure publish-to-receive delay.
// Pictures are recognised by their content (the largest NAL unit), which
// every hop passes through unchanged.
type feed struct {
	codec bitstream.Codec
	aus   [][][]byte
	fps   int
	medi  *description.Media
	forma format.Format

	mu   sync.Mutex // guards sent
	sent map[uint64]time.Time
}

var keySeed = maphash.MakeSeed()

// frameKey names a picture by its largest NAL unit.
func frameKey(nalus [][]byte) uint64 {
	var big []byte
	for _, n := range nalus {
		if len(n) > len(big) {
			big = n
		}
	}
	return maphash.Bytes(keySeed, big[:min(len(big), 512)]) ^ uint64(len(big))
}

// loadFeed reads the clip a source names: the built-in clip or an H.264
// or H.265 Annex-B file.
func loadFeed(src agent.Source, fps int) (*feed, error) {
	var data []byte
	codec := bitstream.H264
	switch src.Kind {
	case "builtin":
		data = clips.PorchH264
	case "file":
		b, err := os.ReadFile(src.Location)
		if err != nil {
			return nil, err
		}
		data, codec = b, bitstream.CodecOfFile(src.Location)
	default:
		return nil, fmt.Errorf("bench plays the built-in clip or an Annex-B file, not a %s source", src.Kind)
	}
	aus := bitstream.AccessUnits(codec, bitstream.SplitAnnexB(data))
	for i, au := range aus {
		if bitstream.HasKey(codec, au) {
			aus = aus[i:]
			break
		}
	}
	if len(aus) == 0 {
		return nil, errors.New("the clip holds no video")
	}
	f := &feed{codec: codec, aus: aus, fps: fps, sent: map[uint64]time.Time{}}
	vps, sps, pps := bitstream.ParamSets(codec, aus[0])
	if codec == bitstream.H265 {
		f.forma = &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	} else {
		f.forma = &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	}
	f.medi = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f.forma}}
	return f, nil
}

// encoder packetizes access units for the feed's format.
func (f *feed) encoder() (func([][]byte) ([]*rtp.Packet, error), error) {
	switch forma := f.forma.(type) {
	case *format.H265:
		enc, err := forma.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return enc.Encode, nil
	case *format.H264:
		enc, err := forma.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return enc.Encode, nil
	}
	return nil, errors.New("unknown format")
}

// play loops the clip at real-time rate until ctx ends, marking each
// picture's departure and handing its RTP packets to write.
func (f *feed) play(ctx context.Context, write func([]*rtp.Packet)) error {
	encode, err := f.encoder()
	if err != nil {
		return err
	}
	start := time.Now()
	for n := 0; ; n++ {
		pts := time.Duration(n) * time.Second / time.Duration(f.fps)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(start.Add(pts))):
		}
		au := f.aus[n%len(f.aus)]
		pkts, err := encode(au)
		if err != nil {
			return err
		}
		ts := uint32(int64(pts) * 90000 / int64(time.Second))
		for _, p := range pkts {
			p.Timestamp = ts
		}
		k := frameKey(au)
		f.mu.Lock()
		f.sent[k] = time.Now()
		f.mu.Unlock()
		write(pkts)
	}
}

// delay is how long ago the picture left the feed, if it did.
func (f *feed) delay(nalus [][]byte, at time.Time) (time.Duration, bool) {
	k := frameKey(nalus)
	f.mu.Lock()
	t, ok := f.sent[k]
	f.mu.Unlock()
	if !ok || at.Before(t) {
		return 0, false
	}
	return at.Sub(t), true
}

// serve runs the feed as a plain RTSP camera on loopback, as simulated
// agents' LAN camera; it returns the stream's URL.
func (f *feed) serve(ctx context.Context) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	h := &feedServer{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: l.Addr().String(), Listen: func(string, string) (net.Listener, error) { return l, nil }}
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{f.medi}}}
	if err := srv.Start(); err != nil {
		return "", err
	}
	if err := h.stream.Initialize(); err != nil {
		srv.Close()
		return "", err
	}
	go func() {
		f.play(ctx, func(pkts []*rtp.Packet) {
			for _, p := range pkts {
				h.stream.WritePacketRTP(f.medi, p)
			}
		})
		h.stream.Close()
		srv.Close()
	}()
	return "rtsp://" + l.Addr().String() + "/clip", nil
}

// feedServer serves one stream to whoever asks.
type feedServer struct{ stream *gortsplib.ServerStream }

func (h *feedServer) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *feedServer) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *feedServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
