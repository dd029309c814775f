package natsbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/camvault/camvault/internal/domain"
)

// decode reads one event strictly: known fields only, nothing after it.
func decode(data []byte, w *wire) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(w); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	if w.Seq < 0 {
		return errors.New("negative sequence number")
	}
	if w.Since < 0 || w.Until < 0 {
		return errors.New("time before the Unix epoch")
	}
	if (w.Account != "" && !domain.ValidID(w.Account)) || (w.Camera != "" && !domain.ValidID(w.Camera)) || (w.Link != "" && !domain.ValidID(w.Link)) {
		return errors.New("malformed id")
	}
	return nil
}

func domainID(s string) domain.ID { return domain.ID(s) }

// toMicros and fromMicros carry a time on the wire, at the index's
// precision; the zero time is 0.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
