// Package control is the protocol of the control channel between a camera's
// agent and the server: one WebSocket over mutual TLS, carrying JSON
// messages. Every message names the protocol version and its type; a
// message over MaxMessageBytes, with unknown fields, of an unknown type or
// of another version is refused by Decode, and the receiver answers with
// an error message instead of dropping the connection.
//
// Server to agent: start_stream, stop_stream, snapshot, rename, unclaim,
// update_available. Agent to server: hello (once, first), status. Either
// side: ack and error, naming the ID of the message they answer.
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxMessageBytes bounds an encoded message.
const MaxMessageBytes = 16 << 10

// Type is a message's type.
type Type string

// Message types.
const (
	TypeHello           Type = "hello"
	TypeStatus          Type = "status"
	TypeStartStream     Type = "start_stream"
	TypeStopStream      Type = "stop_stream"
	TypeSnapshot        Type = "snapshot"
	TypeRename          Type = "rename"
	TypeUnclaim         Type = "unclaim"
	TypeUpdateAvailable Type = "update_available"
	TypeAck             Type = "ack"
	TypeError           Type = "error"
	// TypeMotion is the agent reporting motion (its own detector, or a
	// sensor wired to it); a camera recording on events keeps the time
	// around it.
	TypeMotion Type = "motion"
)

// Timing of the channel.
const (
	// PingInterval is how often the agent pings; the server marks a
	// device offline after OfflineAfter without a message or pong.
	PingInterval = 15 * time.Second
	OfflineAfter = 45 * time.Second
)

// Message is one control message. Exactly the payload field of its type is
// set (none for stop_stream, snapshot, unclaim and ack).
type Message struct {
	V    int    `json:"v"`
	Type Type   `json:"type"`
	ID   string `json:"id,omitempty"`
	// ReplyTo is the ID an ack or error answers.
	ReplyTo string `json:"reply_to,omitempty"`

	Hello  *Hello  `json:"hello,omitempty"`
	Status *Status `json:"status,omitempty"`
	Stream *Stream `json:"stream,omitempty"`
	Rename *Rename `json:"rename,omitempty"`
	Update *Update `json:"update,omitempty"`
	Error  *Error  `json:"error,omitempty"`
	Motion *Motion `json:"motion,omitempty"`
}

// Motion reports motion seen by the camera.
type Motion struct {
	// At is when, in Unix milliseconds.
	At int64 `json:"at"`
	// Score is how strong, 1 to 100.
	Score int `json:"score"`
}

// Hello opens the session.
type Hello struct {
	AgentVersion string `json:"agent_version"`
}

// Status is the agent's report.
type Status struct {
	AgentVersion string `json:"agent_version"`
	// SourceHealth is "ok" or a short reason the source is unusable.
	SourceHealth  string `json:"source_health"`
	SourceKind    string `json:"source_kind"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	Streaming     bool   `json:"streaming"`
}

// Stream asks the agent to start streaming.
type Stream struct {
	// Profile is "main" or "sub".
	Profile string `json:"profile"`
	// URL is where to publish: rtsps://host:port/cameras/{camera}, with
	// the device certificate.
	URL string `json:"url"`
}

// Rename tells the agent its camera's new name.
type Rename struct {
	Name string `json:"name"`
}

// Update announces an available agent update.
type Update struct {
	Version string `json:"version"`
}

// Error reports why a message was refused.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeUnknownType = "unknown_type"
	CodeBadMessage  = "bad_message"
	CodeVersion     = "unsupported_version"
	CodeUnsupported = "unsupported"
)

// Decode errors.
var (
	ErrTooLarge    = errors.New("control: message too large")
	ErrMalformed   = errors.New("control: malformed message")
	ErrVersion     = errors.New("control: unsupported protocol version")
	ErrUnknownType = errors.New("control: unknown message type")
)

// payloads says which payload each type carries.
var payloads = map[Type]string{
	TypeHello: "hello", TypeStatus: "status", TypeStartStream: "stream", TypeStopStream: "",
	TypeSnapshot: "", TypeRename: "rename", TypeUnclaim: "", TypeUpdateAvailable: "update",
	TypeAck: "", TypeError: "error", TypeMotion: "motion",
}

// Limits on string fields.
const (
	maxID      = 64
	maxText    = 256
	maxVersion = 64
)

// Decode parses and validates one message.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessageBytes {
		return m, ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Message{}, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if m.V != Version {
		return m, ErrVersion
	}
	want, ok := payloads[m.Type]
	if !ok {
		return m, ErrUnknownType
	}
	if got := m.payload(); got != want {
		return m, fmt.Errorf("%w: %s message with %q payload", ErrMalformed, m.Type, got)
	}
	if err := m.checkLengths(); err != nil {
		return m, err
	}
	return m, nil
}

// payload names the one payload set, "" for none, "many" for several.
func (m Message) payload() string {
	set := ""
	n := 0
	for name, ok := range map[string]bool{"hello": m.Hello != nil, "status": m.Status != nil, "stream": m.Stream != nil,
		"rename": m.Rename != nil, "update": m.Update != nil, "error": m.Error != nil, "motion": m.Motion != nil} {
		if ok {
			set = name
			n++
		}
	}
	if n > 1 {
		return "many"
	}
	return set
}

func (m Message) checkLengths() error {
	long := func(s string, max int) bool { return len(s) > max }
	bad := long(m.ID, maxID) || long(m.ReplyTo, maxID)
	switch {
	case m.Hello != nil:
		bad = bad || long(m.Hello.AgentVersion, maxVersion)
	case m.Status != nil:
		bad = bad || long(m.Status.AgentVersion, maxVersion) || long(m.Status.SourceHealth, maxText) ||
			long(m.Status.SourceKind, maxVersion) || m.Status.UptimeSeconds < 0
	case m.Stream != nil:
		bad = bad || (m.Stream.Profile != "main" && m.Stream.Profile != "sub") ||
			!strings.HasPrefix(m.Stream.URL, "rtsps://") || long(m.Stream.URL, maxText)
	case m.Rename != nil:
		bad = bad || long(m.Rename.Name, maxText)
	case m.Update != nil:
		bad = bad || long(m.Update.Version, maxVersion)
	case m.Error != nil:
		bad = bad || long(m.Error.Code, maxVersion) || long(m.Error.Message, maxText)
	case m.Motion != nil:
		bad = bad || m.Motion.At <= 0 || m.Motion.Score < 1 || m.Motion.Score > 100
	}
	if bad {
		return fmt.Errorf("%w: field out of range", ErrMalformed)
	}
	return nil
}

// Encode validates and encodes m, setting its version.
func Encode(m Message) ([]byte, error) {
	m.V = Version
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := Decode(b); err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", m.Type, err)
	}
	return b, nil
}

// Refusal is the error message answering a message that Decode refused
// with err.
func Refusal(replyTo string, err error) Message {
	code := CodeBadMessage
	switch {
	case errors.Is(err, ErrUnknownType):
		code = CodeUnknownType
	case errors.Is(err, ErrVersion):
		code = CodeVersion
	}
	msg := err.Error()
	if len(msg) > maxText {
		msg = msg[:maxText]
	}
	return Message{Type: TypeError, ReplyTo: truncate(replyTo, maxID), Error: &Error{Code: code, Message: msg}}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
