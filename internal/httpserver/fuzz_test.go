package httpserver

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/camvault/camvault/internal/service"
)

// inviteBody has the shape of the API's richest request body.
type inviteBody struct {
	Role        string     `json:"role"`
	Cameras     []string   `json:"cameras"`
	Actions     []string   `json:"actions"`
	ExpiresAt   *time.Time `json:"expires_at"`
	AccessUntil *time.Time `json:"access_until"`
	NoHistory   bool       `json:"no_history"`
}

// FuzzDecodeJSON: any body either decodes or yields a client error with a
// safe message; nothing panics.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"role":"guest","cameras":["abc"],"actions":["live"],"expires_at":"2026-12-01T00:00:00Z","no_history":true}`,
		`{"role":"member"}`, `{"role":1}`, `{"rolex":"member"}`, `{}`, ``, `[]`, `null`, `{"role":"a"}{}`,
		`{"expires_at":"yesterday"}`, "{\"role\":\"\xff\"}", `{"cameras":[` + string(bytes.Repeat([]byte(`"x",`), 100)) + `"y"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v inviteBody
		err := decodeJSON(bytes.NewReader(body), &v)
		if err == nil {
			return
		}
		var se *service.Error
		if !errors.As(err, &se) || se.Kind != service.KindInvalid || se.Message == "" {
			t.Fatalf("decode error is not a client error: %v", err)
		}
	})
}
