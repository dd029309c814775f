package displaysim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/webrtc/v4"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/videosig"
)

// WHEPError is a WHEP offer the server refused.
type WHEPError struct{ Status int }

func (e *WHEPError) Error() string { return fmt.Sprintf("WHEP: the server answered %d", e.Status) }

// DialWHEP receives video from a WHEP URL with a pion peer connection and
// hands every H.264 access unit (NAL units) to onAU. Loopback candidates
// are allowed, so a server on the same machine works. A refused offer is
// a *WHEPError.
func DialWHEP(ctx context.Context, url string, onAU func(au [][]byte)) (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*webrtc.PeerConnection, error) {
		pc.Close()
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		// A picture is complete at its marker bit, not when the next
		// one begins.
		dec, err := (&format.H264{PayloadTyp: uint8(tr.PayloadType()), PacketizationMode: 1}).CreateDecoder()
		if err != nil {
			return
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if au, err := dec.Decode(pkt); err == nil {
				onAU(au)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fail(&WHEPError{Status: resp.StatusCode})
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fail(err)
	}
	return pc, nil
}

// PlayWebRTC plays a WHEP signaling URL (as EXECUTE gives it) of camera at
// generation and checks every access unit against the key, like PlayHLS.
func PlayWebRTC(ctx context.Context, signalingURL string, camera domain.ID, generation int64, key []byte) (*Playback, error) {
	v, err := videosig.NewVerifier(videosig.H264, key, camera, generation)
	if err != nil {
		return nil, err
	}
	p := &Playback{key: key, camera: camera, gen: generation, codec: videosig.H264, verifier: v, done: make(chan struct{})}
	pc, err := DialWHEP(ctx, signalingURL, p.push)
	if err != nil {
		return nil, err
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
			p.end()
		}
	})
	p.closeFn = func() { pc.Close() }
	return p, nil
}
