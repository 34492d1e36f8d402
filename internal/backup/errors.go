package backup

import "errors"

// Why an archive is refused; every error of Read, Verify and Restore about
// the archive wraps one of them (errors.Is), and its text says what was
// found. A refused archive changes nothing.
var (
	ErrNotBackup      = errors.New("not a devmgr backup")
	ErrDamaged        = errors.New("the backup is damaged or truncated")
	ErrTampered       = errors.New("the backup was changed after it was made")
	ErrUnsafe         = errors.New("the backup holds an unsafe member")
	ErrTooLarge       = errors.New("the backup is too large")
	ErrTooNew         = errors.New("the backup is from a newer devmgr")
	ErrNeedPassphrase = errors.New("the backup is encrypted: a passphrase is needed")
	ErrPassphrase     = errors.New("wrong passphrase, or not a backup encrypted with a passphrase")
	ErrInvalid        = errors.New("the backup's contents fail validation")
)

// ErrPlan: the backup, with the interfaces mapped as asked, does not fit
// this device; nothing changed.
var ErrPlan = errors.New("the backup does not fit this device")

// Limits bound what is read of an archive, which may come from anyone.
type Limits struct {
	// Archive bounds the file itself (compressed, maybe encrypted).
	Archive int64
	// Total bounds everything it unpacks to: members and tar headers.
	Total int64
	// DB bounds the database member; Member every other one.
	DB, Member int64
}

// DefaultLimits fit a device's backups with room to spare: a database of
// 100 000 audit entries is some 30 MiB.
var DefaultLimits = Limits{Archive: 512 << 20, Total: 600 << 20, DB: 512 << 20, Member: 1 << 20}

func (l Limits) withDefaults() Limits {
	if l.Archive <= 0 {
		l.Archive = DefaultLimits.Archive
	}
	if l.Total <= 0 {
		l.Total = DefaultLimits.Total
	}
	if l.DB <= 0 {
		l.DB = DefaultLimits.DB
	}
	if l.Member <= 0 {
		l.Member = DefaultLimits.Member
	}
	return l
}

// max is the size limit of the member name.
func (l Limits) max(name string) int64 {
	if name == MemberDB {
		return l.DB
	}
	return l.Member
}
