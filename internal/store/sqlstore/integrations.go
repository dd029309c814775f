package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const integrationCols = `id, name, client_id, secret_hash, redirect_uris, enabled, created_at, changed_at, notify_url`

func scanIntegration(row scanner) (domain.Integration, error) {
	var in domain.Integration
	var uris string
	var created, changed sql.NullInt64
	if err := row.Scan(&in.ID, &in.Name, &in.ClientID, &in.SecretHash, &uris, &in.Enabled, &created, &changed, &in.NotifyURL); err != nil {
		return in, err
	}
	in.CreatedAt, in.ChangedAt = fromMicros(created), fromMicros(changed)
	if err := json.Unmarshal([]byte(uris), &in.RedirectURIs); err != nil {
		return in, fmt.Errorf("decode redirect URIs: %w", err)
	}
	return in, nil
}

// CreateIntegration implements store.Store.
func (s *Store) CreateIntegration(ctx context.Context, in domain.Integration) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO integrations (`+integrationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.ID, in.Name, in.ClientID, in.SecretHash, jsonText(nonNil(in.RedirectURIs)), b2i(in.Enabled), micros(in.CreatedAt), micros(in.ChangedAt), in.NotifyURL)
	return err
}

func (s *Store) integrationWhere(ctx context.Context, where string, arg any) (domain.Integration, error) {
	in, err := scanIntegration(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+integrationCols+` FROM integrations WHERE `+where+` = ?`), arg))
	return in, s.classify(err)
}

// Integration implements store.Store.
func (s *Store) Integration(ctx context.Context, id domain.ID) (domain.Integration, error) {
	return s.integrationWhere(ctx, "id", id)
}

// IntegrationByClientID implements store.Store.
func (s *Store) IntegrationByClientID(ctx context.Context, clientID string) (domain.Integration, error) {
	return s.integrationWhere(ctx, "client_id", clientID)
}

// IntegrationByName implements store.Store.
func (s *Store) IntegrationByName(ctx context.Context, name string) (domain.Integration, error) {
	return s.integrationWhere(ctx, "name", name)
}

// Integrations implements store.Store.
func (s *Store) Integrations(ctx context.Context) ([]domain.Integration, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+integrationCols+` FROM integrations ORDER BY name, id`))
	return collect(rows, s.classify(err), scanIntegration)
}

// SetIntegrationEnabled implements store.Store.
func (s *Store) SetIntegrationEnabled(ctx context.Context, id domain.ID, enabled bool, at time.Time) ([]domain.Link, error) {
	var revoked []domain.Link
	err := s.tx(ctx, func(tx querier) error {
		revoked = nil
		if err := s.execOne(ctx, tx, `UPDATE integrations SET enabled = ?, changed_at = ? WHERE id = ?`, b2i(enabled), micros(at), id); err != nil {
			return err
		}
		if enabled {
			return nil
		}
		var err error
		revoked, err = s.revokeLinks(ctx, tx, store.LinkFilter{IntegrationID: id}, at)
		return err
	})
	return revoked, err
}

const linkCols = `id, integration_id, home_id, account_id, cameras, actions, created_at, revoked_at, last_used_at`

func scanLink(row scanner) (domain.Link, error) {
	var l domain.Link
	var cams, acts string
	var created, revoked, used sql.NullInt64
	if err := row.Scan(&l.ID, &l.IntegrationID, &l.HomeID, &l.AccountID, &cams, &acts, &created, &revoked, &used); err != nil {
		return l, err
	}
	l.CreatedAt, l.RevokedAt, l.LastUsedAt = fromMicros(created), fromMicros(revoked), fromMicros(used)
	var err error
	if l.Cameras, err = parseRefs(cams); err != nil {
		return l, err
	}
	l.Actions, err = parseActions(acts)
	return l, err
}

// CreateLink implements store.Store.
func (s *Store) CreateLink(ctx context.Context, l domain.Link) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO links (`+linkCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.IntegrationID, l.HomeID, l.AccountID, jsonText(nonNil(l.Cameras)), jsonText(nonNil(l.Actions)),
		micros(l.CreatedAt), micros(l.RevokedAt), micros(l.LastUsedAt))
	return err
}

// Link implements store.Store.
func (s *Store) Link(ctx context.Context, id domain.ID) (domain.Link, error) {
	l, err := scanLink(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+linkCols+` FROM links WHERE id = ?`), id))
	return l, s.classify(err)
}

// linkWhere is the WHERE clause and arguments for f.
func linkWhere(f store.LinkFilter) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct {
		col string
		v   domain.ID
	}{{"id", f.ID}, {"integration_id", f.IntegrationID}, {"home_id", f.HomeID}, {"account_id", f.AccountID}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	switch {
	case !f.RevokedSince.IsZero():
		conds = append(conds, "revoked_at >= ?")
		args = append(args, micros(f.RevokedSince))
	case !f.Revoked:
		conds = append(conds, "revoked_at IS NULL")
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// Links implements store.Store.
func (s *Store) Links(ctx context.Context, f store.LinkFilter) ([]domain.Link, error) {
	where, args := linkWhere(f)
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+linkCols+` FROM links WHERE `+where+` ORDER BY created_at DESC, id`), args...)
	return collect(rows, s.classify(err), scanLink)
}

// RevokeLinks implements store.Store.
func (s *Store) RevokeLinks(ctx context.Context, f store.LinkFilter, at time.Time) ([]domain.Link, error) {
	if f.Empty() {
		return nil, fmt.Errorf("sqlstore: revoking links needs a filter")
	}
	var revoked []domain.Link
	err := s.tx(ctx, func(tx querier) error {
		var err error
		revoked, err = s.revokeLinks(ctx, tx, f, at)
		return err
	})
	return revoked, err
}

func (s *Store) revokeLinks(ctx context.Context, tx querier, f store.LinkFilter, at time.Time) ([]domain.Link, error) {
	f.Revoked, f.RevokedSince = false, time.Time{}
	where, args := linkWhere(f)
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+linkCols+` FROM links WHERE `+where+` ORDER BY created_at DESC, id`), args...)
	links, err := collect(rows, s.classify(err), scanLink)
	if err != nil {
		return nil, err
	}
	for i := range links {
		if err := s.execOne(ctx, tx, `UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), links[i].ID); err != nil {
			return nil, err
		}
		links[i].RevokedAt = at.UTC()
	}
	return links, nil
}

// TouchLink implements store.Store.
func (s *Store) TouchLink(ctx context.Context, id domain.ID, at time.Time) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE links SET last_used_at = ? WHERE id = ?`, micros(at), id)
}
