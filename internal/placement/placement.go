// Package placement says which node serves which camera. A camera belongs
// to the media node holding its agent's control connection, and the newest
// connection wins: when an agent reconnects to another node, the older
// connection's holder hears that it was superseded and closes it. Nodes
// report their load every ReportEvery and count as gone when they have not
// reported for AliveFor; a claim held by a gone node is no claim.
// Commands for a camera (a control message, a snapshot, a recording
// trigger) travel to its owner node.
//
// One node uses Local; a cluster uses natsplacement, over NATS JetStream's
// key-value store and request/reply. placementtest is the suite both pass.
package placement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// Timing of node reports. A node starting under an ID that another
// process reported under waits up to IDWait to see whether that report
// is renewed (CheckID).
const (
	ReportEvery = 2 * time.Second
	AliveFor    = 5 * time.Second
	IDWait      = ReportEvery + ReportEvery/2
)

// Node is a node's report of itself.
type Node struct {
	ID string `json:"id"`
	// Instance names the process reporting, anew at each start: two
	// processes under one ID are told apart by it.
	Instance  string    `json:"instance,omitempty"`
	PublicURL string    `json:"public_url,omitempty"` // where viewers reach it
	RTSPURL   string    `json:"rtsp_url,omitempty"`   // its viewers' RTSPS listener, if any
	Cameras   int       `json:"cameras"`              // control connections held
	Streams   int       `json:"streams"`              // live readers served
	Draining  bool      `json:"draining,omitempty"`   // takes no new cameras
	At        time.Time `json:"at"`                   // when it reported
}

// Claim says that a node holds a camera's control connection.
type Claim struct {
	Camera domain.ID `json:"camera"`
	Node   string    `json:"node"`
	Conn   string    `json:"conn"` // the connection's ID, unique per connection
	Since  time.Time `json:"since"`
}

// Command is a request for a camera's owner node.
type Command struct {
	Camera domain.ID `json:"camera"`
	Op     string    `json:"op"` // e.g. "snapshot", "recording.trigger"
	Body   []byte    `json:"body,omitempty"`
}

// Handler answers commands sent to this node.
type Handler func(ctx context.Context, c Command) ([]byte, error)

// Directory is the cluster's map of cameras to nodes.
type Directory interface {
	// Claim records c as the camera's newest connection, superseding any
	// earlier claim.
	Claim(ctx context.Context, c Claim) error
	// Release drops the camera's claim if it is still conn's.
	Release(ctx context.Context, camera domain.ID, conn string) error
	// Owner returns the camera's claim when its node is alive.
	Owner(ctx context.Context, camera domain.ID) (Claim, bool, error)
	// Superseded calls fn with each claim made through this directory
	// that a newer connection replaced, until stop is called.
	Superseded(fn func(old Claim)) (stop func())

	// Report publishes this node's state.
	Report(ctx context.Context, n Node) error
	// Nodes returns the nodes that reported within AliveFor.
	Nodes(ctx context.Context) ([]Node, error)
	// Node returns the report under id when it was made within
	// AliveFor.
	Node(ctx context.Context, id string) (Node, bool, error)

	// Handle serves commands sent to node until stop is called.
	Handle(node string, h Handler) (stop func(), err error)
	// Send asks node to carry out c and returns its answer. An error
	// the handler returned comes back as a *CommandError.
	Send(ctx context.Context, node string, c Command) ([]byte, error)
}

// ErrNoNode is Send's answer when no node serves commands under that name.
var ErrNoNode = errors.New("placement: no such node")

// CommandError is a handler's failure as the sender sees it: its text
// only, for logs; the cause stays on the node that had it.
type CommandError struct{ Msg string }

func (e *CommandError) Error() string { return "placement: command failed: " + e.Msg }

// InUseError is CheckID's answer when a live process reports under the
// ID already.
type InUseError struct {
	ID string
	// Last is how long ago its last report was made, by this node's
	// clock and the reporter's.
	Last time.Duration
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("placement: node ID %q is in use by another running node (last report %s ago)", e.ID, e.Last)
}

// CheckID makes sure that no other process reports under id, before the
// process instance starts reporting under it. A report under id from
// another instance made within AliveFor is a live node's or the last
// one of a node that stopped (and is being started again at once):
// CheckID waits up to IDWait, longer than a live node takes to report
// again, for that report to be renewed. Renewed, it answers
// *InUseError; else the reporter is gone and it answers nil. Reports are
// told apart by their instance and time, never by comparing clocks.
func CheckID(ctx context.Context, d Directory, id, instance string) error {
	first, ok, err := d.Node(ctx, id)
	if err != nil {
		return fmt.Errorf("placement: check node ID: %w", err)
	}
	if !ok || first.Instance == instance {
		return nil
	}
	deadline := time.Now().Add(IDWait)
	t := time.NewTicker(IDWait / 30)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		cur, ok, err := d.Node(ctx, id)
		if err != nil {
			return fmt.Errorf("placement: check node ID: %w", err)
		}
		if !ok {
			return nil // its report expired: gone
		}
		if cur.Instance != instance && (cur.Instance != first.Instance || !cur.At.Equal(first.At)) {
			return &InUseError{ID: id, Last: max(time.Since(cur.At), 0).Round(100 * time.Millisecond)}
		}
	}
	return nil
}

// Local is the directory of a single process. Several Local views made by
// the same Shared behave as nodes of one cluster, for tests.
type Local struct {
	sh *Shared
	mu sync.Mutex // guards mine
	// mine holds the claims made through this view.
	mine map[domain.ID]Claim
}

// Shared is the state behind Local views.
type Shared struct {
	now func() time.Time

	mu       sync.Mutex // guards the fields below
	claims   map[domain.ID]Claim
	nodes    map[string]Node
	handlers map[string]Handler
	views    []*Local
	watchers map[*Local][]*watcher
}

type watcher struct{ fn func(Claim) }

// NewShared makes the state for Local views; now is the clock (time.Now
// when nil).
func NewShared(now func() time.Time) *Shared {
	if now == nil {
		now = time.Now
	}
	return &Shared{now: now, claims: map[domain.ID]Claim{}, nodes: map[string]Node{},
		handlers: map[string]Handler{}, watchers: map[*Local][]*watcher{}}
}

// View returns a new view, as one node sees the directory.
func (s *Shared) View() *Local {
	l := &Local{sh: s, mine: map[domain.ID]Claim{}}
	s.mu.Lock()
	s.views = append(s.views, l)
	s.mu.Unlock()
	return l
}

// NewLocal returns the directory of a one-node installation.
func NewLocal() *Local { return NewShared(nil).View() }

// Claim implements Directory.
func (l *Local) Claim(ctx context.Context, c Claim) error {
	s := l.sh
	s.mu.Lock()
	old, had := s.claims[c.Camera]
	s.claims[c.Camera] = c
	var notify []func(Claim)
	var holder *Local
	if had && old.Conn != c.Conn {
		for _, v := range s.views {
			v.mu.Lock()
			if m, ok := v.mine[c.Camera]; ok && m.Conn == old.Conn {
				delete(v.mine, c.Camera)
				holder = v
			}
			v.mu.Unlock()
		}
		if holder != nil {
			for _, w := range s.watchers[holder] {
				notify = append(notify, w.fn)
			}
		}
	}
	s.mu.Unlock()
	l.mu.Lock()
	l.mine[c.Camera] = c
	l.mu.Unlock()
	for _, fn := range notify {
		fn(old)
	}
	return nil
}

// Release implements Directory.
func (l *Local) Release(ctx context.Context, camera domain.ID, conn string) error {
	s := l.sh
	s.mu.Lock()
	if c, ok := s.claims[camera]; ok && c.Conn == conn {
		delete(s.claims, camera)
	}
	s.mu.Unlock()
	l.mu.Lock()
	if c, ok := l.mine[camera]; ok && c.Conn == conn {
		delete(l.mine, camera)
	}
	l.mu.Unlock()
	return nil
}

// Owner implements Directory. A one-node installation's own claims count
// even before it first reports.
func (l *Local) Owner(ctx context.Context, camera domain.ID) (Claim, bool, error) {
	s := l.sh
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.claims[camera]
	if !ok {
		return Claim{}, false, nil
	}
	if len(s.nodes) == 0 {
		return c, true, nil
	}
	n, ok := s.nodes[c.Node]
	if !ok || s.now().Sub(n.At) > AliveFor {
		return Claim{}, false, nil
	}
	return c, true, nil
}

// Superseded implements Directory.
func (l *Local) Superseded(fn func(old Claim)) (stop func()) {
	s := l.sh
	w := &watcher{fn: fn}
	s.mu.Lock()
	s.watchers[l] = append(s.watchers[l], w)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		ws := s.watchers[l]
		for i, x := range ws {
			if x == w {
				s.watchers[l] = append(ws[:i:i], ws[i+1:]...)
				return
			}
		}
	}
}

// Report implements Directory.
func (l *Local) Report(ctx context.Context, n Node) error {
	s := l.sh
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.At.IsZero() {
		n.At = s.now()
	}
	s.nodes[n.ID] = n
	return nil
}

// Nodes implements Directory.
func (l *Local) Nodes(ctx context.Context) ([]Node, error) {
	s := l.sh
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Node
	for _, n := range s.nodes {
		if s.now().Sub(n.At) <= AliveFor {
			out = append(out, n)
		}
	}
	sortNodes(out)
	return out, nil
}

// Node implements Directory.
func (l *Local) Node(ctx context.Context, id string) (Node, bool, error) {
	s := l.sh
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok || s.now().Sub(n.At) > AliveFor {
		return Node{}, false, nil
	}
	return n, true, nil
}

// Handle implements Directory.
func (l *Local) Handle(node string, h Handler) (func(), error) {
	s := l.sh
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.handlers[node]; ok {
		return nil, errors.New("placement: node " + node + " already has a handler")
	}
	s.handlers[node] = h
	return func() {
		s.mu.Lock()
		delete(s.handlers, node)
		s.mu.Unlock()
	}, nil
}

// Send implements Directory.
func (l *Local) Send(ctx context.Context, node string, c Command) ([]byte, error) {
	s := l.sh
	s.mu.Lock()
	h, ok := s.handlers[node]
	s.mu.Unlock()
	if !ok {
		return nil, ErrNoNode
	}
	out, err := h(ctx, c)
	if err != nil {
		return nil, &CommandError{Msg: err.Error()}
	}
	return out, nil
}

// sortNodes orders nodes by ID, so every node lists them alike.
func sortNodes(ns []Node) {
	slices.SortFunc(ns, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
}
