package smarthome

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeRequest: well-formed requests of each intent decode; malformed,
// unknown and oversized ones are refused with ErrBadRequest.
func TestDecodeRequest(t *testing.T) {
	good := []string{
		`{"requestId":"r1","inputs":[{"intent":"action.devices.SYNC"}]}`,
		`{"requestId":"r2","inputs":[{"intent":"action.devices.QUERY","payload":{"devices":[{"id":"abc","customData":{"x":1}}]}}]}`,
		`{"requestId":"r3","inputs":[{"intent":"action.devices.EXECUTE","payload":{"commands":[{"devices":[{"id":"abc"}],` +
			`"execution":[{"command":"action.devices.commands.GetCameraStream","params":{"StreamToChromecast":true,"SupportedStreamProtocols":["hls"]}}]}]}}]}`,
		`{"requestId":"r4","inputs":[{"intent":"action.devices.DISCONNECT"}]}`,
	}
	for _, g := range good {
		if _, err := DecodeRequest(strings.NewReader(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := []string{
		``, `null`, `[]`, `{"requestId":"r"}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}],"extra":1}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.SYNC","other":1}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"},{"intent":"action.devices.SYNC"}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.REBOOT"}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.QUERY"}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.QUERY","payload":{"devices":[{"id":""}]}}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.EXECUTE","payload":{"commands":[{"devices":[{"id":"a"}],"execution":[]}]}}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}]} {}`,
		`{"requestId":"` + strings.Repeat("x", 200) + `","inputs":[{"intent":"action.devices.SYNC"}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.QUERY","payload":{"devices":[` + strings.Repeat(`{"id":"a"},`, 300) + `{"id":"a"}]}}]}`,
		`{"requestId":"r","inputs":[{"intent":"action.devices.SYNC"}],"pad":"` + strings.Repeat("x", MaxRequestBytes) + `"}`,
	}
	for _, b := range bad {
		if _, err := DecodeRequest(strings.NewReader(b)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%.80s: %v, want ErrBadRequest", b, err)
		}
	}
}

// FuzzDecodeRequest: any body decodes or is refused, never a panic, and a
// decoded request keeps the limits.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"requestId":"r1","inputs":[{"intent":"action.devices.SYNC"}]}`))
	f.Add([]byte(`{"requestId":"r2","inputs":[{"intent":"action.devices.QUERY","payload":{"devices":[{"id":"abc"}]}}]}`))
	f.Add([]byte(`{"requestId":"r3","inputs":[{"intent":"action.devices.EXECUTE","payload":{"commands":[{"devices":[{"id":"abc"}],"execution":[{"command":"x","params":{"SupportedStreamProtocols":["hls","webrtc"]}}]}]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(strings.NewReader(string(b)))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
			return
		}
		if len(req.Inputs) != 1 || len(b) > MaxRequestBytes {
			t.Fatalf("decoded a request breaking the limits: %+v", req)
		}
		if p := req.Inputs[0].Payload; p != nil {
			for _, c := range p.Commands {
				for _, d := range c.Devices {
					if d.ID == "" || len(d.ID) > maxIDLen {
						t.Fatalf("device ID %q passed", d.ID)
					}
				}
			}
		}
	})
}
