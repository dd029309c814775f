package natsbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"

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
	if (w.Account != "" && !domain.ValidID(w.Account)) || (w.Camera != "" && !domain.ValidID(w.Camera)) || (w.Link != "" && !domain.ValidID(w.Link)) {
		return errors.New("malformed id")
	}
	return nil
}

func domainID(s string) domain.ID { return domain.ID(s) }

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
