package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

func (s *Store) insertHome(ctx context.Context, q querier, h domain.Home, owner domain.ID) error {
	if _, err := s.exec(ctx, q, `INSERT INTO homes (id, name, created_at) VALUES (?, ?, ?)`, h.ID, h.Name, micros(h.CreatedAt)); err != nil {
		return err
	}
	return s.insertMembership(ctx, q, domain.Membership{HomeID: h.ID, AccountID: owner, Role: domain.RoleOwner, CreatedAt: h.CreatedAt})
}

// CreateHome implements store.Store.
func (s *Store) CreateHome(ctx context.Context, h domain.Home, owner domain.ID) error {
	return s.tx(ctx, func(tx querier) error { return s.insertHome(ctx, tx, h, owner) })
}

// Home implements store.Store.
func (s *Store) Home(ctx context.Context, id domain.ID) (domain.Home, error) {
	var h domain.Home
	var created sql.NullInt64
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT id, name, created_at FROM homes WHERE id = ?`), id).Scan(&h.ID, &h.Name, &created)
	h.CreatedAt = fromMicros(created)
	return h, s.classify(err)
}

// Homes implements store.Store, ordered by name.
func (s *Store) Homes(ctx context.Context, account domain.ID) ([]domain.HomeView, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT h.id, h.name, h.created_at, m.role FROM homes h
		JOIN memberships m ON m.home_id = h.id WHERE m.account_id = ? ORDER BY h.name, h.id`), account)
	return collect(rows, s.classify(err), func(row scanner) (domain.HomeView, error) {
		var v domain.HomeView
		var created sql.NullInt64
		err := row.Scan(&v.ID, &v.Name, &created, &v.Role)
		v.CreatedAt = fromMicros(created)
		return v, err
	})
}

const membershipCols = `home_id, account_id, role, cameras, actions, access_until, history_from, created_at`

func scanMembership(row scanner, extra ...any) (domain.Membership, error) {
	var m domain.Membership
	var cams, acts string
	var until, from, created sql.NullInt64
	dest := append([]any{&m.HomeID, &m.AccountID, &m.Role, &cams, &acts, &until, &from, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return m, err
	}
	m.Until, m.HistoryFrom, m.CreatedAt = fromMicros(until), fromMicros(from), fromMicros(created)
	var err error
	if m.Cameras, err = parseRefs(cams); err != nil {
		return m, err
	}
	m.Actions, err = parseActions(acts)
	return m, err
}

func (s *Store) insertMembership(ctx context.Context, q querier, m domain.Membership) error {
	_, err := s.exec(ctx, q, `INSERT INTO memberships (`+membershipCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.HomeID, m.AccountID, m.Role, jsonText(nonNil(m.Cameras)), jsonText(nonNil(m.Actions)), micros(m.Until), micros(m.HistoryFrom), micros(m.CreatedAt))
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Membership implements store.Store.
func (s *Store) Membership(ctx context.Context, home, account domain.ID) (domain.Membership, error) {
	m, err := scanMembership(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+membershipCols+` FROM memberships WHERE home_id = ? AND account_id = ?`), home, account))
	return m, s.classify(err)
}

// Members implements store.Store, ordered by role then email.
func (s *Store) Members(ctx context.Context, home domain.ID) ([]domain.MemberView, error) {
	rows, err := s.on(ctx).QueryContext(ctx, s.q(`SELECT m.home_id, m.account_id, m.role, m.cameras, m.actions, m.access_until, m.history_from, m.created_at, a.email
		FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.home_id = ?
		ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END, a.email`), home)
	return collect(rows, s.classify(err), func(row scanner) (domain.MemberView, error) {
		var v domain.MemberView
		m, err := scanMembership(row, &v.Email)
		v.Membership = m
		return v, err
	})
}

// otherOwners counts the home's owners other than account.
func (s *Store) otherOwners(ctx context.Context, tx querier, home, account domain.ID) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM memberships WHERE home_id = ? AND role = 'owner' AND account_id <> ?`), home, account).Scan(&n)
	return n, s.classify(err)
}

// UpdateMembership implements store.Store.
func (s *Store) UpdateMembership(ctx context.Context, m domain.Membership) error {
	return s.tx(ctx, func(tx querier) error {
		cur, err := scanMembership(tx.QueryRowContext(ctx, s.q(`SELECT `+membershipCols+` FROM memberships WHERE home_id = ? AND account_id = ?`), m.HomeID, m.AccountID))
		if err != nil {
			return s.classify(err)
		}
		if cur.Role == domain.RoleOwner && m.Role != domain.RoleOwner {
			if n, err := s.otherOwners(ctx, tx, m.HomeID, m.AccountID); err != nil {
				return err
			} else if n == 0 {
				return store.ErrLastOwner
			}
		}
		return s.execOne(ctx, tx, `UPDATE memberships SET role = ?, cameras = ?, actions = ?, access_until = ?, history_from = ? WHERE home_id = ? AND account_id = ?`,
			m.Role, jsonText(nonNil(m.Cameras)), jsonText(nonNil(m.Actions)), micros(m.Until), micros(m.HistoryFrom), m.HomeID, m.AccountID)
	})
}

// DeleteMembership implements store.Store.
func (s *Store) DeleteMembership(ctx context.Context, home, account domain.ID) error {
	return s.tx(ctx, func(tx querier) error {
		var role domain.Role
		err := tx.QueryRowContext(ctx, s.q(`SELECT role FROM memberships WHERE home_id = ? AND account_id = ?`), home, account).Scan(&role)
		if err != nil {
			return s.classify(err)
		}
		if role == domain.RoleOwner {
			if n, err := s.otherOwners(ctx, tx, home, account); err != nil {
				return err
			} else if n == 0 {
				return store.ErrLastOwner
			}
		}
		return s.execOne(ctx, tx, `DELETE FROM memberships WHERE home_id = ? AND account_id = ?`, home, account)
	})
}

const inviteCols = `id, token_hash, home_id, role, cameras, actions, access_until, no_history, expires_at, created_by, created_at, used_at, used_by`

func scanInvite(row scanner) (domain.Invite, error) {
	var inv domain.Invite
	var cams, acts string
	var until, expires, created, used sql.NullInt64
	if err := row.Scan(&inv.ID, &inv.TokenHash, &inv.HomeID, &inv.Role, &cams, &acts, &until, &inv.NoHistory, &expires, &inv.CreatedBy, &created, &used, &inv.UsedBy); err != nil {
		return inv, err
	}
	inv.AccessUntil, inv.ExpiresAt, inv.CreatedAt, inv.UsedAt = fromMicros(until), fromMicros(expires), fromMicros(created), fromMicros(used)
	var err error
	if inv.Cameras, err = parseRefs(cams); err != nil {
		return inv, err
	}
	inv.Actions, err = parseActions(acts)
	return inv, err
}

// CreateInvite implements store.Store.
func (s *Store) CreateInvite(ctx context.Context, inv domain.Invite) error {
	_, err := s.exec(ctx, s.on(ctx), `INSERT INTO invites (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.TokenHash, inv.HomeID, inv.Role, jsonText(nonNil(inv.Cameras)), jsonText(nonNil(inv.Actions)), micros(inv.AccessUntil),
		b2i(inv.NoHistory), micros(inv.ExpiresAt), inv.CreatedBy, micros(inv.CreatedAt), micros(inv.UsedAt), inv.UsedBy)
	return err
}

// InviteByTokenHash implements store.Store.
func (s *Store) InviteByTokenHash(ctx context.Context, hash []byte) (domain.Invite, error) {
	inv, err := scanInvite(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+inviteCols+` FROM invites WHERE token_hash = ?`), hash))
	return inv, s.classify(err)
}

// AcceptInvite implements store.Store. The conditional UPDATE claims the
// invitation; the membership insert in the same transaction fails on its
// primary key for an existing member, which rolls the claim back.
func (s *Store) AcceptInvite(ctx context.Context, hash []byte, account domain.ID, now time.Time) (domain.Membership, error) {
	var m domain.Membership
	err := s.tx(ctx, func(tx querier) error {
		inv, err := scanInvite(tx.QueryRowContext(ctx, s.q(`SELECT `+inviteCols+` FROM invites WHERE token_hash = ?`), hash))
		switch {
		case err != nil:
			return s.classify(err)
		case !inv.UsedAt.IsZero():
			return store.ErrConflict
		case !now.Before(inv.ExpiresAt):
			return store.ErrNotFound
		}
		if err := s.execOne(ctx, tx, `UPDATE invites SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL`, micros(now), account, inv.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.ErrConflict
			}
			return err
		}
		m = domain.Membership{
			HomeID: inv.HomeID, AccountID: account, Role: inv.Role,
			Cameras: inv.Cameras, Actions: inv.Actions, Until: inv.AccessUntil, CreatedAt: now,
		}
		if inv.NoHistory {
			m.HistoryFrom = now
		}
		return s.insertMembership(ctx, tx, m)
	})
	if err != nil {
		return domain.Membership{}, err
	}
	// Return what a read would return (microsecond times, UTC).
	return s.Membership(ctx, m.HomeID, m.AccountID)
}

// DeleteHome implements store.Store.
func (s *Store) DeleteHome(ctx context.Context, id domain.ID) error {
	return s.tx(ctx, func(tx querier) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM cameras WHERE home_id = ?`), id).Scan(&n); err != nil {
			return s.classify(err)
		}
		if n > 0 {
			return store.ErrConflict
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM home_recording WHERE home_id = ?`, id); err != nil {
			return err
		}
		return s.execOne(ctx, tx, `DELETE FROM homes WHERE id = ?`, id)
	})
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, id domain.ID) error {
	return s.tx(ctx, func(tx querier) error {
		var n int
		err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM memberships m WHERE m.account_id = ? AND m.role = 'owner'
			AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.home_id = m.home_id AND o.role = 'owner' AND o.account_id <> m.account_id)`), id).Scan(&n)
		if err != nil {
			return s.classify(err)
		}
		if n > 0 {
			return store.ErrLastOwner
		}
		return s.execOne(ctx, tx, `DELETE FROM accounts WHERE id = ?`, id)
	})
}
