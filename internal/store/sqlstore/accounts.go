package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/camvault/camvault/internal/domain"
	"github.com/camvault/camvault/internal/store"
)

const accountCols = `id, email, password_hash, instance_admin, disabled, totp_secret, totp_enabled, created_at`

func scanAccount(row scanner) (domain.Account, error) {
	var a domain.Account
	var created sql.NullInt64
	err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.InstanceAdmin, &a.Disabled, &a.TOTPSecret, &a.TOTPEnabled, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

func (s *Store) insertAccount(ctx context.Context, q querier, a domain.Account) error {
	_, err := s.exec(ctx, q, `INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, domain.NormalizeEmail(a.Email), a.PasswordHash, b2i(a.InstanceAdmin), b2i(a.Disabled), a.TOTPSecret, b2i(a.TOTPEnabled), micros(a.CreatedAt))
	return err
}

// CreateFirstAccount implements store.Store. The single row of
// first_account makes a second concurrent setup fail on its primary key
// whatever the isolation level.
func (s *Store) CreateFirstAccount(ctx context.Context, a domain.Account, h domain.Home) error {
	return s.tx(ctx, func(tx querier) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM accounts`)).Scan(&n); err != nil {
			return s.classify(err)
		}
		if n > 0 {
			return store.ErrNotEmpty
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO first_account (one, account_id) VALUES (1, ?)`, a.ID); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return store.ErrNotEmpty
			}
			return err
		}
		if err := s.insertAccount(ctx, tx, a); err != nil {
			return err
		}
		return s.insertHome(ctx, tx, h, a.ID)
	})
}

// CountAccounts implements store.Store.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM accounts`)).Scan(&n)
	return n, s.classify(err)
}

// CreateAccount implements store.Store.
func (s *Store) CreateAccount(ctx context.Context, a domain.Account) error {
	return s.insertAccount(ctx, s.on(ctx), a)
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, id domain.ID) (domain.Account, error) {
	a, err := scanAccount(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE id = ?`), id))
	return a, s.classify(err)
}

// AccountByEmail implements store.Store.
func (s *Store) AccountByEmail(ctx context.Context, email string) (domain.Account, error) {
	a, err := scanAccount(s.on(ctx).QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE email = ?`), domain.NormalizeEmail(email)))
	return a, s.classify(err)
}

// UpdateAccount implements store.Store.
func (s *Store) UpdateAccount(ctx context.Context, a domain.Account) error {
	return s.execOne(ctx, s.on(ctx), `UPDATE accounts SET email = ?, password_hash = ?, instance_admin = ?, disabled = ?, totp_secret = ?, totp_enabled = ? WHERE id = ?`,
		domain.NormalizeEmail(a.Email), a.PasswordHash, b2i(a.InstanceAdmin), b2i(a.Disabled), a.TOTPSecret, b2i(a.TOTPEnabled), a.ID)
}

// SetRecoveryCodes implements store.Store.
func (s *Store) SetRecoveryCodes(ctx context.Context, account domain.ID, hashes [][]byte) error {
	return s.tx(ctx, func(tx querier) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM recovery_codes WHERE account_id = ?`, account); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := s.exec(ctx, tx, `INSERT INTO recovery_codes (account_id, hash) VALUES (?, ?)`, account, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseRecoveryCode implements store.Store: one DELETE, so a code is used at
// most once however many callers race.
func (s *Store) UseRecoveryCode(ctx context.Context, account domain.ID, hash []byte) error {
	return s.execOne(ctx, s.on(ctx), `DELETE FROM recovery_codes WHERE account_id = ? AND hash = ?`, account, hash)
}

// CountRecoveryCodes implements store.Store.
func (s *Store) CountRecoveryCodes(ctx context.Context, account domain.ID) (int, error) {
	var n int
	err := s.on(ctx).QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?`), account).Scan(&n)
	return n, s.classify(err)
}

// UseTOTPStep implements store.Store: one conditional UPDATE, so of racing
// uses of a step exactly one moves it forward.
func (s *Store) UseTOTPStep(ctx context.Context, account domain.ID, step int64) error {
	n, err := s.exec(ctx, s.on(ctx), `UPDATE accounts SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, account, step)
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	if _, err := s.Account(ctx, account); err != nil {
		return err
	}
	return store.ErrConflict
}
