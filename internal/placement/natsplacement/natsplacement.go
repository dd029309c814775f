// Package natsplacement is placement.Directory over NATS: claims and node
// reports live in two JetStream key-value buckets, and commands travel by
// request/reply on a subject per node. Claims are written unconditionally,
// so the newest connection wins; every directory watches the claims bucket
// and tells its holder when a claim it made was replaced.
package natsplacement

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/placement"
)

// DefaultPrefix names the buckets and subjects.
const DefaultPrefix = "camvault"

// ClaimTTL is how long a claim lives without being written again: a
// directory rewrites the claims it holds every ClaimTTL/3, so only the
// claims of a node that died expire. Owner ignores them sooner, as soon as
// their node stops reporting.
const ClaimTTL = 10 * time.Minute

// maxMessage bounds what a directory reads from the wire.
const maxMessage = 64 << 10

// Directory is the NATS directory.
type Directory struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	claims jetstream.KeyValue
	nodes  jetstream.KeyValue
	prefix string
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex // guards mine and watchers
	mine     map[domain.ID]placement.Claim
	watchers map[int]func(placement.Claim)
	next     int
}

var _ placement.Directory = (*Directory)(nil)

// Open connects to NATS at url and opens (creating them when absent) the
// buckets under prefix (DefaultPrefix when empty). Close ends it.
func Open(ctx context.Context, url, prefix string, log *slog.Logger, opts ...nats.Option) (*Directory, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !validToken(prefix) {
		return nil, errors.New("placement: the prefix may hold only letters, digits, - and _")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = append([]nats.Option{nats.Name("camvault placement"), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, errors.New("placement: cannot connect to NATS")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("placement: %w", err)
	}
	claims, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: prefix + "_claims", History: 1, TTL: ClaimTTL, Storage: jetstream.FileStorage})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("placement: claims bucket: %w", err)
	}
	nodes, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: prefix + "_nodes", History: 1, TTL: placement.AliveFor, Storage: jetstream.MemoryStorage})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("placement: nodes bucket: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	d := &Directory{nc: nc, js: js, claims: claims, nodes: nodes, prefix: prefix, log: log, cancel: cancel,
		done: make(chan struct{}), mine: map[domain.ID]placement.Claim{}, watchers: map[int]func(placement.Claim){}}
	w, err := claims.WatchAll(wctx, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		nc.Close()
		return nil, fmt.Errorf("placement: watch claims: %w", err)
	}
	go d.watch(wctx, w)
	return d, nil
}

// Close stops watching and disconnects.
func (d *Directory) Close() error {
	d.cancel()
	<-d.done
	d.nc.Close()
	return nil
}

// DeleteBuckets removes the directory's buckets, for tests and for taking
// an installation down.
func (d *Directory) DeleteBuckets(ctx context.Context) error {
	return errors.Join(d.js.DeleteKeyValue(ctx, d.prefix+"_claims"), d.js.DeleteKeyValue(ctx, d.prefix+"_nodes"))
}

// watch tells holders of replaced claims, and rewrites held claims before
// they expire.
func (d *Directory) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(d.done)
	defer w.Stop()
	refresh := time.NewTicker(ClaimTTL / 3)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			d.refresh(ctx)
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var c placement.Claim
			if len(e.Value()) > maxMessage || json.Unmarshal(e.Value(), &c) != nil {
				continue
			}
			d.replaced(c)
		}
	}
}

// replaced notes that c is now the camera's claim.
func (d *Directory) replaced(c placement.Claim) {
	d.mu.Lock()
	old, ok := d.mine[c.Camera]
	if !ok || old.Conn == c.Conn {
		d.mu.Unlock()
		return
	}
	delete(d.mine, c.Camera)
	fns := make([]func(placement.Claim), 0, len(d.watchers))
	for _, fn := range d.watchers {
		fns = append(fns, fn)
	}
	d.mu.Unlock()
	for _, fn := range fns {
		fn(old)
	}
}

// refresh rewrites the claims this directory holds, unless a newer
// connection took them meanwhile.
func (d *Directory) refresh(ctx context.Context) {
	d.mu.Lock()
	held := make([]placement.Claim, 0, len(d.mine))
	for _, c := range d.mine {
		held = append(held, c)
	}
	d.mu.Unlock()
	for _, c := range held {
		e, err := d.claims.Get(ctx, string(c.Camera))
		if err != nil {
			continue
		}
		var cur placement.Claim
		if json.Unmarshal(e.Value(), &cur) != nil || cur.Conn != c.Conn {
			continue
		}
		b, _ := json.Marshal(c)
		if _, err := d.claims.Update(ctx, string(c.Camera), b, e.Revision()); err != nil {
			d.log.Warn("placement: claim not refreshed", "camera", c.Camera, "err", err)
		}
	}
}

// Claim implements placement.Directory.
func (d *Directory) Claim(ctx context.Context, c placement.Claim) error {
	if !domain.ValidID(string(c.Camera)) || c.Node == "" || c.Conn == "" {
		return errors.New("placement: a claim needs a camera ID, a node and a connection")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.mine[c.Camera] = c
	d.mu.Unlock()
	if _, err := d.claims.Put(ctx, string(c.Camera), b); err != nil {
		d.mu.Lock()
		if m, ok := d.mine[c.Camera]; ok && m.Conn == c.Conn {
			delete(d.mine, c.Camera)
		}
		d.mu.Unlock()
		return fmt.Errorf("placement: claim: %w", err)
	}
	return nil
}

// Release implements placement.Directory: it deletes the claim only at
// the revision that is still conn's, so it never removes a newer one.
func (d *Directory) Release(ctx context.Context, camera domain.ID, conn string) error {
	d.mu.Lock()
	if c, ok := d.mine[camera]; ok && c.Conn == conn {
		delete(d.mine, camera)
	}
	d.mu.Unlock()
	if !domain.ValidID(string(camera)) {
		return nil
	}
	e, err := d.claims.Get(ctx, string(camera))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("placement: release: %w", err)
	}
	var cur placement.Claim
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Conn != conn {
		return nil
	}
	err = d.claims.Delete(ctx, string(camera), jetstream.LastRevision(e.Revision()))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("placement: release: %w", err)
	}
	return nil
}

// Owner implements placement.Directory.
func (d *Directory) Owner(ctx context.Context, camera domain.ID) (placement.Claim, bool, error) {
	if !domain.ValidID(string(camera)) {
		return placement.Claim{}, false, nil
	}
	e, err := d.claims.Get(ctx, string(camera))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return placement.Claim{}, false, nil
	}
	if err != nil {
		return placement.Claim{}, false, fmt.Errorf("placement: owner: %w", err)
	}
	var c placement.Claim
	if len(e.Value()) > maxMessage || json.Unmarshal(e.Value(), &c) != nil {
		return placement.Claim{}, false, nil
	}
	if _, err := d.nodes.Get(ctx, nodeKey(c.Node)); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return placement.Claim{}, false, nil
		}
		return placement.Claim{}, false, fmt.Errorf("placement: owner's node: %w", err)
	}
	return c, true, nil
}

// Superseded implements placement.Directory.
func (d *Directory) Superseded(fn func(old placement.Claim)) (stop func()) {
	d.mu.Lock()
	id := d.next
	d.next++
	d.watchers[id] = fn
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.watchers, id)
		d.mu.Unlock()
	}
}

// Report implements placement.Directory. The nodes bucket keeps an entry
// for placement.AliveFor after its last write.
func (d *Directory) Report(ctx context.Context, n placement.Node) error {
	if n.ID == "" {
		return errors.New("placement: a report needs the node's name")
	}
	if n.At.IsZero() {
		n.At = time.Now()
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if _, err := d.nodes.Put(ctx, nodeKey(n.ID), b); err != nil {
		return fmt.Errorf("placement: report: %w", err)
	}
	return nil
}

// Nodes implements placement.Directory.
func (d *Directory) Nodes(ctx context.Context) ([]placement.Node, error) {
	keys, err := d.nodes.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("placement: nodes: %w", err)
	}
	var out []placement.Node
	for k := range keys.Keys() {
		e, err := d.nodes.Get(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		var n placement.Node
		if len(e.Value()) > maxMessage || json.Unmarshal(e.Value(), &n) != nil {
			continue
		}
		out = append(out, n)
	}
	keys.Stop()
	slices.SortFunc(out, func(a, b placement.Node) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Node implements placement.Directory.
func (d *Directory) Node(ctx context.Context, id string) (placement.Node, bool, error) {
	if id == "" {
		return placement.Node{}, false, nil
	}
	e, err := d.nodes.Get(ctx, nodeKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return placement.Node{}, false, nil
	}
	if err != nil {
		return placement.Node{}, false, fmt.Errorf("placement: node: %w", err)
	}
	var n placement.Node
	if len(e.Value()) > maxMessage || json.Unmarshal(e.Value(), &n) != nil || n.ID != id {
		return placement.Node{}, false, nil
	}
	return n, true, nil
}

// reply is a command's answer on the wire.
type reply struct {
	Body  []byte `json:"body,omitempty"`
	Error string `json:"error,omitempty"`
}

// Handle implements placement.Directory.
func (d *Directory) Handle(node string, h placement.Handler) (func(), error) {
	sub, err := d.nc.Subscribe(d.subject(node), func(m *nats.Msg) {
		var c placement.Command
		var r reply
		if len(m.Data) > maxMessage || json.Unmarshal(m.Data, &c) != nil {
			r.Error = "malformed command"
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			body, err := h(ctx, c)
			cancel()
			if err != nil {
				r.Error = err.Error()
			} else {
				r.Body = body
			}
		}
		b, _ := json.Marshal(r)
		m.Respond(b)
	})
	if err != nil {
		return nil, fmt.Errorf("placement: handle: %w", err)
	}
	if err := d.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("placement: handle: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// Send implements placement.Directory.
func (d *Directory) Send(ctx context.Context, node string, c placement.Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	m, err := d.nc.RequestWithContext(ctx, d.subject(node), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, placement.ErrNoNode
	}
	if err != nil {
		return nil, fmt.Errorf("placement: send: %w", err)
	}
	var r reply
	if len(m.Data) > maxMessage || json.Unmarshal(m.Data, &r) != nil {
		return nil, errors.New("placement: malformed reply")
	}
	if r.Error != "" {
		return nil, &placement.CommandError{Msg: r.Error}
	}
	return r.Body, nil
}

// subject is where node hears commands; the node's name is hex-encoded so
// that no name can reach another node's subject.
func (d *Directory) subject(node string) string {
	return d.prefix + ".placement.cmd." + hex.EncodeToString([]byte(node))
}

// nodeKey is a node's key in the nodes bucket.
func nodeKey(node string) string { return hex.EncodeToString([]byte(node)) }

// validToken reports whether s is safe as a bucket name and subject token.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
