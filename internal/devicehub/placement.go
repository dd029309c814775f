package devicehub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/control"
	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
)

// Commands one node's hub sends another's, for a camera the other holds.
const (
	opControl  = "control"           // Body: an encoded control message for the device
	opReleased = "released"          // the camera left its home
	opSnapshot = "snapshot"          // answer: a fresh JPEG from the device
	opTrigger  = "recording.trigger" // mark an event now; answer: a triggered
	opWarm     = "warm"              // viewers of the camera are on their way: start its stream
)

// triggered is the answer to opTrigger.
type triggered struct {
	Recording bool `json:"recording"` // the node records the camera
}

// Errors a hub answers other nodes' commands with. They travel as text.
var (
	errNotHere    = errors.New("devicehub: the camera holds no session here")
	errBadCommand = errors.New("devicehub: malformed command")
)

// remoteWait bounds a command to another node; commands are sent on
// callers' paths (a viewer joining, a rename), which must not hang on a
// node that went away.
const remoteWait = 5 * time.Second

// How a node follows a camera that went to another node: it looks for
// the new owner every followPoll, for at most followFor.
const (
	followPoll = 50 * time.Millisecond
	followFor  = 30 * time.Second
)

// newConnID names a control connection in the directory: unique per
// connection, so that the newest one's claim is told from an older one's.
func newConnID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// claim records s as the camera's newest connection. It is called
// without h.mu: a directory may tell this hub of the claim it replaced
// from within Claim.
func (h *Hub) claim(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, remoteWait)
	defer cancel()
	return h.dir.Claim(ctx, placement.Claim{Camera: s.camera.ID, Node: h.cfg.Node, Conn: s.claim, Since: time.Now().UTC()})
}

// release drops s's claim, unless a newer connection holds it already.
func (h *Hub) release(s *session) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteWait)
	defer cancel()
	if err := h.dir.Release(ctx, s.camera.ID, s.claim); err != nil {
		h.log.Warn("camera's claim not released", "camera", s.camera.ID, "err", err)
	}
}

// superseded ends the session whose claim a newer connection took, at
// this node or another.
func (h *Hub) superseded(old placement.Claim) {
	h.mu.Lock()
	s, ok := h.sessions[old.Camera]
	ok = ok && s.claim == old.Conn
	if ok {
		delete(h.sessions, old.Camera)
		h.cfg.Sessions(len(h.sessions), false)
	}
	h.mu.Unlock()
	if ok {
		h.log.Info("device connected again elsewhere; ending this session", "camera", old.Camera)
		s.cancel()
		if !s.moving.Load() { // a draining session follows its camera already
			h.follow(s.camera)
		}
	}
}

// follow sends the viewers this node has of cam, whose session here
// ended, to the node that holds it next: once another node holds the
// camera, that node is asked to start its stream, and then the viewers
// here are told to ask again for a stream (which sends them there). A
// camera nobody watches here needs no following. A draining node that
// sees no other node take the camera within followFor tells its viewers
// anyway: it will not serve them again.
func (h *Hub) follow(cam domain.Camera) {
	if !h.cfg.Watched(cam) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.wg.Go(func() {
		log := h.log.With("camera", cam.ID)
		giveUp := time.NewTimer(followFor)
		defer giveUp.Stop()
		poll := time.NewTicker(followPoll)
		defer poll.Stop()
		for {
			if owner, ok := h.remoteOwner(cam.ID); ok {
				if h.command(owner, placement.Command{Camera: cam.ID, Op: opWarm}) == nil {
					log.Info("the camera's viewers here go to its new node", "node", owner.Node)
				}
				h.cfg.Moved(cam.ID)
				return
			}
			select {
			case <-h.quit:
				return
			case <-giveUp.C:
				log.Warn("no other node took the camera; its viewers here stay", "draining", h.Draining())
				if h.Draining() {
					h.cfg.Moved(cam.ID)
				}
				return
			case <-poll.C:
			}
		}
	})
}

// remoteOwner returns the claim of a camera held by another live node.
func (h *Hub) remoteOwner(camera domain.ID) (placement.Claim, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), remoteWait)
	defer cancel()
	c, ok, err := h.dir.Owner(ctx, camera)
	if err != nil {
		h.log.Warn("placement directory", "camera", camera, "err", err)
		return placement.Claim{}, false
	}
	// A claim naming this node without a session here is one being
	// released.
	return c, ok && c.Node != h.cfg.Node
}

// sendRemote sends m to the node holding the camera's session. Stream
// starts and stops stay with the node that holds it: a device pushes to
// the ingest of the node that asked, and viewers and the recorder are
// sent to the holding node, so another node's stop would end the
// stream the holding node serves.
func (h *Hub) sendRemote(camera domain.ID, m control.Message) bool {
	if m.Type == control.TypeStartStream || m.Type == control.TypeStopStream {
		return false
	}
	owner, ok := h.remoteOwner(camera)
	if !ok {
		return false
	}
	b, err := control.Encode(m)
	if err != nil {
		h.log.Error("control message not sent", "camera", camera, "err", err)
		return false
	}
	return h.command(owner, placement.Command{Camera: camera, Op: opControl, Body: b}) == nil
}

// releasedRemote tells the node holding the camera's session that the
// camera left its home.
func (h *Hub) releasedRemote(camera domain.ID) {
	if owner, ok := h.remoteOwner(camera); ok {
		h.command(owner, placement.Command{Camera: camera, Op: opReleased})
	}
}

// command sends c to owner's node and logs a failure.
func (h *Hub) command(owner placement.Claim, c placement.Command) error {
	ctx, cancel := context.WithTimeout(context.Background(), remoteWait)
	defer cancel()
	_, err := h.dir.Send(ctx, owner.Node, c)
	if err != nil {
		h.log.Warn("command to the camera's node failed", "camera", c.Camera, "node", owner.Node, "op", c.Op, "err", err)
	}
	return err
}

// FetchSnapshot implements service.SnapshotFetcher: for a camera whose
// session another node holds, that node gets a fresh picture from the
// device and sends it back. held is false when no other node holds the
// camera.
func (h *Hub) FetchSnapshot(ctx context.Context, camera domain.ID) (jpeg []byte, held bool, err error) {
	h.mu.Lock()
	_, here := h.sessions[camera]
	h.mu.Unlock()
	if here {
		return nil, false, nil
	}
	owner, ok := h.remoteOwner(camera)
	if !ok {
		return nil, false, nil
	}
	jpeg, err = h.dir.Send(ctx, owner.Node, placement.Command{Camera: camera, Op: opSnapshot})
	return jpeg, true, err
}

// Recorders passes recording triggers to the node holding a camera's
// device, whose recorder is the one that records it. It needs no device
// listener, so that nodes serving only the API pass them too.
type Recorders struct {
	Placement placement.Directory
	Node      string // this node's name in the directory
}

// TriggerElsewhere implements service.RemoteRecorders: it marks an event
// now at the recorder of the node holding the camera's device. held is
// false when no other live node holds it; recording says whether that
// node records the camera.
func (r Recorders) TriggerElsewhere(ctx context.Context, camera domain.ID) (recording, held bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, remoteWait)
	defer cancel()
	owner, ok, err := r.Placement.Owner(ctx, camera)
	if err != nil || !ok || owner.Node == r.Node {
		// A directory that does not answer leaves the trigger to this
		// node's recorder, as recording itself does.
		return false, false, nil
	}
	b, err := r.Placement.Send(ctx, owner.Node, placement.Command{Camera: camera, Op: opTrigger})
	if err != nil {
		return false, true, err
	}
	var t triggered
	if err := json.Unmarshal(b, &t); err != nil {
		return false, true, errBadCommand
	}
	return t.Recording, true, nil
}

// Serve answers other nodes' commands for the cameras this hub holds,
// until Close.
func (h *Hub) Serve() error {
	stop, err := h.dir.Handle(h.cfg.Node, h.handle)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.stopHandle != nil {
		stop()
		return errors.New("devicehub: closed or serving already")
	}
	h.stopHandle = stop
	return nil
}

// handle carries out another node's command.
func (h *Hub) handle(ctx context.Context, c placement.Command) ([]byte, error) {
	switch c.Op {
	case opControl:
		m, err := control.Decode(c.Body)
		if err != nil {
			return nil, errBadCommand
		}
		if !h.sendLocal(c.Camera, m) {
			return nil, errNotHere
		}
		return nil, nil
	case opReleased:
		if !h.releasedLocal(c.Camera) {
			return nil, errNotHere
		}
		return nil, nil
	case opWarm:
		h.mu.Lock()
		s, here := h.sessions[c.Camera]
		h.mu.Unlock()
		if !here {
			return nil, errNotHere
		}
		h.cfg.Warm(s.camera)
		return nil, nil
	case opSnapshot:
		h.mu.Lock()
		_, here := h.sessions[c.Camera]
		h.mu.Unlock()
		if !here || h.cfg.Snapshot == nil {
			return nil, errNotHere
		}
		return h.cfg.Snapshot(ctx, c.Camera)
	case opTrigger:
		h.mu.Lock()
		_, here := h.sessions[c.Camera]
		h.mu.Unlock()
		if !here {
			return nil, errNotHere
		}
		return json.Marshal(triggered{Recording: h.cfg.Trigger != nil && h.cfg.Trigger(c.Camera)})
	}
	return nil, errBadCommand
}

// Drain makes the node take no new control sessions and ends those it
// holds, telling their agents to connect again at once: through the same
// name, they land on another node. The viewers of those cameras here
// follow them there (see follow).
func (h *Hub) Drain() {
	h.draining.Store(true)
	h.mu.Lock()
	ended := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		if s.moving.CompareAndSwap(false, true) {
			close(s.move)
			ended = append(ended, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ended {
		h.follow(s.camera)
	}
}

// Draining reports whether Drain was called.
func (h *Hub) Draining() bool { return h.draining.Load() }
