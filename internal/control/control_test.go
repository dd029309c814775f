package control

import (
	"errors"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{Type: TypeHello, ID: "1", Hello: &Hello{AgentVersion: "0.3.0"}},
		{Type: TypeStatus, ID: "2", Status: &Status{AgentVersion: "0.3.0", SourceHealth: "ok", SourceKind: "file", UptimeSeconds: 12}},
		{Type: TypeStartStream, ID: "3", Stream: &Stream{Profile: "main", URL: "rtsps://cams.example.org:8555/cameras/x"}},
		{Type: TypeStopStream, ID: "4"},
		{Type: TypeSnapshot, ID: "5"},
		{Type: TypeRename, ID: "6", Rename: &Rename{Name: "Porch"}},
		{Type: TypeUnclaim, ID: "7"},
		{Type: TypeUpdateAvailable, ID: "8", Update: &Update{Version: "0.4.0"}},
		{Type: TypeAck, ReplyTo: "3"},
		{Type: TypeMotion, ID: "9", Motion: &Motion{At: 1764165600000, Score: 40}},
		{Type: TypeError, ReplyTo: "5", Error: &Error{Code: CodeUnsupported, Message: "no video yet"}},
	} {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		got, err := Decode(b)
		if err != nil || got.Type != m.Type || got.V != Version {
			t.Fatalf("%s: %+v %v", m.Type, got, err)
		}
	}
}

func TestRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want error
	}{
		"unknown type":    {`{"v":1,"type":"format_disk"}`, ErrUnknownType},
		"other version":   {`{"v":2,"type":"hello","hello":{"agent_version":"x"}}`, ErrVersion},
		"unknown field":   {`{"v":1,"type":"ack","camera_id":"x"}`, ErrMalformed},
		"missing payload": {`{"v":1,"type":"rename"}`, ErrMalformed},
		"wrong payload":   {`{"v":1,"type":"ack","rename":{"name":"x"}}`, ErrMalformed},
		"two payloads":    {`{"v":1,"type":"rename","rename":{"name":"x"},"update":{"version":"1"}}`, ErrMalformed},
		"bad profile":     {`{"v":1,"type":"start_stream","stream":{"profile":"4k"}}`, ErrMalformed},
		"trailing":        {`{"v":1,"type":"ack"} {}`, ErrMalformed},
		"not json":        {`hello`, ErrMalformed},
		"long name":       {`{"v":1,"type":"rename","rename":{"name":"` + strings.Repeat("x", 300) + `"}}`, ErrMalformed},
		"negative uptime": {`{"v":1,"type":"status","status":{"agent_version":"1","source_health":"ok","source_kind":"file","uptime_seconds":-1,"streaming":false}}`, ErrMalformed},
		"motion score":    {`{"v":1,"type":"motion","motion":{"at":1764165600000,"score":101}}`, ErrMalformed},
		"motion time":     {`{"v":1,"type":"motion","motion":{"at":-5,"score":10}}`, ErrMalformed},
		"too large":       {`{"v":1,"type":"ack","id":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, ErrTooLarge},
	} {
		if _, err := Decode([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	r := Refusal("9", ErrUnknownType)
	if r.Error.Code != CodeUnknownType || r.ReplyTo != "9" {
		t.Fatalf("refusal %+v", r)
	}
	if _, err := Encode(r); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"hello","hello":{"agent_version":"0.1"}}`))
	f.Add([]byte(`{"v":1,"type":"status","status":{"agent_version":"1","source_health":"ok","source_kind":"file","uptime_seconds":3,"streaming":true}}`))
	f.Add([]byte(`{"v":1,"type":"format_disk"}`))
	f.Add([]byte(`{"v":1,"type":"motion","motion":{"at":1764165600000,"score":40}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode again.
		if _, err := Encode(m); err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", b, err)
		}
	})
}
