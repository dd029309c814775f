package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const oauthCols = `kind, signature, request_id, link_id, active, expires_at, data`

func scanOAuthToken(row scanner) (domain.OAuthToken, error) {
	var t domain.OAuthToken
	var exp sql.NullInt64
	var data string
	if err := row.Scan(&t.Kind, &t.Signature, &t.RequestID, &t.LinkID, &t.Active, &exp, &data); err != nil {
		return t, err
	}
	t.ExpiresAt, t.Data = fromMicros(exp), []byte(data)
	return t, nil
}

// CreateOAuthToken implements store.Store.
func (s *Store) CreateOAuthToken(ctx context.Context, t domain.OAuthToken) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO oauth_tokens (`+oauthCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Kind, t.Signature, t.RequestID, t.LinkID, b2i(t.Active), micros(t.ExpiresAt), string(t.Data))
	return err
}

// OAuthToken implements store.Store.
func (s *Store) OAuthToken(ctx context.Context, kind domain.OAuthTokenKind, signature string) (domain.OAuthToken, error) {
	t, err := scanOAuthToken(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+oauthCols+` FROM oauth_tokens WHERE kind = ? AND signature = ?`), kind, signature))
	return t, s.classify(err)
}

// oauthWhere is the WHERE clause and arguments for f.
func oauthWhere(f store.OAuthTokenFilter) (string, []any, error) {
	if f.Empty() {
		return "", nil, fmt.Errorf("sqlstore: selecting OAuth grants needs a filter")
	}
	var conds []string
	var args []any
	for _, c := range []struct {
		col string
		v   string
	}{{"kind", string(f.Kind)}, {"signature", f.Signature}, {"request_id", f.RequestID}, {"link_id", string(f.LinkID)}} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.ExpiredBefore.IsZero() {
		conds = append(conds, "expires_at < ?")
		args = append(args, micros(f.ExpiredBefore))
	}
	return strings.Join(conds, " AND "), args, nil
}

// DeactivateOAuthTokens implements store.Store.
func (s *Store) DeactivateOAuthTokens(ctx context.Context, f store.OAuthTokenFilter) (int, error) {
	where, args, err := oauthWhere(f)
	if err != nil {
		return 0, err
	}
	n, err := s.exec(ctx, s.on(ctx), `UPDATE oauth_tokens SET active = 0 WHERE active = 1 AND `+where, args...)
	return int(n), err
}

// DeleteOAuthTokens implements store.Store.
func (s *Store) DeleteOAuthTokens(ctx context.Context, f store.OAuthTokenFilter) (int, error) {
	where, args, err := oauthWhere(f)
	if err != nil {
		return 0, err
	}
	n, err := s.exec(ctx, s.on(ctx), `DELETE FROM oauth_tokens WHERE `+where, args...)
	return int(n), err
}
