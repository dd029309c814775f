package sqlstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const sessionCols = `id, token_hash, account_id, kind, name, created_at, last_seen, expires_at, client, user_agent, reauth_at`

func scanSession(row scanner) (domain.Session, error) {
	var x domain.Session
	var created, seen, expires, reauth sql.NullInt64
	err := row.Scan(&x.ID, &x.TokenHash, &x.AccountID, &x.Kind, &x.Name, &created, &seen, &expires, &x.Client, &x.UserAgent, &reauth)
	x.CreatedAt, x.LastSeen, x.ExpiresAt, x.ReauthAt = fromMicros(created), fromMicros(seen), fromMicros(expires), fromMicros(reauth)
	return x, err
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, x domain.Session) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		x.ID, x.TokenHash, x.AccountID, x.Kind, x.Name, micros(x.CreatedAt), micros(x.LastSeen), micros(x.ExpiresAt), x.Client, x.UserAgent, micros(x.ReauthAt))
	return err
}

// SessionByTokenHash implements store.Store.
func (s *Store) SessionByTokenHash(ctx context.Context, hash []byte) (domain.Session, error) {
	x, err := scanSession(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`), hash))
	return x, s.classify(err)
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, id domain.ID, t time.Time) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE sessions SET last_seen = ? WHERE id = ?`, micros(t), id)
}

// MarkReauth implements store.Store.
func (s *Store) MarkReauth(ctx context.Context, account, id domain.ID, t time.Time) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE sessions SET reauth_at = ? WHERE account_id = ? AND id = ?`, micros(t), account, id)
}

// Sessions implements store.Store, newest first.
func (s *Store) Sessions(ctx context.Context, account domain.ID) ([]domain.Session, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE account_id = ? ORDER BY created_at DESC, id`), account)
	return collect(rows, s.classify(err), scanSession)
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, account, id domain.ID) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM sessions WHERE account_id = ? AND id = ?`, account, id)
}

// DeleteOtherSessions implements store.Store.
func (s *Store) DeleteOtherSessions(ctx context.Context, account, keep domain.ID) (int, error) {
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM sessions WHERE account_id = ? AND id <> ?`, account, keep)
	return int(n), err
}

const credentialCols = `id, account_id, name, data, created_at, last_used, added_by`

func scanCredential(row scanner) (domain.Credential, error) {
	var c domain.Credential
	var created, used sql.NullInt64
	err := row.Scan(&c.ID, &c.AccountID, &c.Name, &c.Data, &created, &used, &c.AddedBy)
	c.CreatedAt, c.LastUsed = fromMicros(created), fromMicros(used)
	return c, err
}

// AddCredential implements store.Store.
func (s *Store) AddCredential(ctx context.Context, c domain.Credential) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO credentials (`+credentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, c.Name, c.Data, micros(c.CreatedAt), micros(c.LastUsed), c.AddedBy)
	return err
}

// Credentials implements store.Store, oldest first.
func (s *Store) Credentials(ctx context.Context, account domain.ID) ([]domain.Credential, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+credentialCols+` FROM credentials WHERE account_id = ? ORDER BY created_at, id`), account)
	return collect(rows, s.classify(err), scanCredential)
}

// CredentialByID implements store.Store.
func (s *Store) CredentialByID(ctx context.Context, id []byte) (domain.Credential, error) {
	c, err := scanCredential(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+credentialCols+` FROM credentials WHERE id = ?`), id))
	return c, s.classify(err)
}

// UpdateCredential implements store.Store.
func (s *Store) UpdateCredential(ctx context.Context, c domain.Credential) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE credentials SET data = ?, last_used = ? WHERE id = ? AND account_id = ?`,
		c.Data, micros(c.LastUsed), c.ID, c.AccountID)
}

// DeleteCredential implements store.Store.
func (s *Store) DeleteCredential(ctx context.Context, account domain.ID, id []byte) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM credentials WHERE account_id = ? AND id = ?`, account, id)
}

// DeleteCredentialsAddedSince implements store.Store in one transaction.
func (s *Store) DeleteCredentialsAddedSince(ctx context.Context, account, keep domain.ID, since time.Time) ([]domain.Credential, error) {
	var out []domain.Credential
	err := s.tx(ctx, func(tx querier) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+credentialCols+` FROM credentials WHERE account_id = ? AND added_by <> ? AND created_at >= ? ORDER BY created_at, id`), account, keep, micros(since))
		out, err = collect(rows, s.classify(err), scanCredential)
		if err != nil {
			return err
		}
		for _, c := range out {
			if _, err := s.exec(ctx, tx, `DELETE FROM credentials WHERE account_id = ? AND id = ?`, account, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

const auditCols = `id, at, home_id, camera_id, principal, action, result, client, detail`

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, e domain.AuditEvent) error {
	if e.ID == "" {
		e.ID = domain.NewID()
	}
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Time.UnixMicro(), e.HomeID, e.CameraID, e.Principal, e.Action, e.Result, e.Client, e.Detail)
	return err
}

// Audit implements store.Store: the events of f.HomeID ("" for events
// that belong to no home) matching the other set fields, newest first.
func (s *Store) Audit(ctx context.Context, f domain.AuditFilter) ([]domain.AuditEvent, error) {
	where := []string{"home_id = ?"}
	args := []any{f.HomeID}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.CameraID != "" {
		add("camera_id = ?", f.CameraID)
	}
	if f.Principal != "" {
		add("principal = ?", f.Principal)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until.UnixMicro())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultAuditLimit
	}
	limit = min(limit, store.MaxAuditLimit)
	args = append(args, limit)
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT `+auditCols+` FROM audit WHERE `+strings.Join(where, " AND ")+` ORDER BY at DESC, seq DESC LIMIT ?`), args...)
	return collect(rows, s.classify(err), func(row scanner) (domain.AuditEvent, error) {
		var e domain.AuditEvent
		var t int64
		err := row.Scan(&e.ID, &t, &e.HomeID, &e.CameraID, &e.Principal, &e.Action, &e.Result, &e.Client, &e.Detail)
		e.Time = time.UnixMicro(t).UTC()
		return e, err
	})
}

// ClusterIdentity implements store.Store.
func (s *Store) ClusterIdentity(ctx context.Context, macs map[int][]byte, at time.Time) error {
	if len(macs) == 0 {
		return errors.New("sqlstore: cluster identity of no key")
	}
	return s.tx(ctx, func(tx querier) error {
		// Row 0 is no key's: writing it first makes nodes that start
		// together take turns, so two first nodes with disjoint keys
		// cannot both found the installation.
		if _, err := s.exec(ctx, tx, `INSERT INTO cluster_identity (id, mac, created_at) VALUES (0, ?, ?)
			ON CONFLICT (id) DO UPDATE SET created_at = cluster_identity.created_at`, []byte{0}, micros(at)); err != nil {
			return err
		}
		type row struct {
			id  int
			mac []byte
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, mac FROM cluster_identity WHERE id > 0`))
		have, err := collect(rows, s.classify(err), func(r scanner) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.mac)
		})
		if err != nil {
			return err
		}
		recorded := map[int][]byte{}
		for _, r := range have {
			recorded[r.id] = r.mac
		}
		shared := false
		for id, mac := range macs {
			if want, ok := recorded[id]; ok {
				if subtle.ConstantTimeCompare(want, mac) != 1 {
					return store.ErrConflict
				}
				shared = true
			}
		}
		if len(recorded) > 0 && !shared {
			return store.ErrConflict
		}
		for id, mac := range macs {
			if _, ok := recorded[id]; !ok {
				if _, err := s.exec(ctx, tx, `INSERT INTO cluster_identity (id, mac, created_at) VALUES (?, ?, ?)`, id, mac, micros(at)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
