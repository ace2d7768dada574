package store

import "time"

// Options configure Open. The zero value is usable.
type Options struct {
	// LockTimeout is how long to wait for the file lock; default 200ms.
	// A negative value tries once.
	LockTimeout time.Duration

	// Owner is recorded in <path>.owner while the Store is open for writing.
	// A zero PID means CurrentOwner(Owner.Command).
	Owner Owner

	// ReadOnly takes a shared lock: several readers may open the file, but
	// not while a writer holds it. Writes return ErrReadOnly.
	ReadOnly bool

	// Now is the clock for CreatedAt and UpdatedAt; default time.Now.
	Now func() time.Time

	// BatchID is the identity recorded in a file that has none yet,
	// instead of a new one: recover rebuilds a batch's state file, and the
	// batch's recovery journal must still be its own (see BatchID).
	BatchID string
}
