package store

import "errors"

// These errors are returned by the Store; match them with errors.Is.
var (
	// ErrLocked is returned by Open when another process, or another Store in
	// this process, holds the state file. The error is a *LockedError that
	// names the holder when it can.
	ErrLocked = errors.New("state file is locked")

	// ErrNotFound is returned by Get and Update when no job has the key.
	ErrNotFound = errors.New("job not found")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store is closed")

	// ErrReadOnly is returned by writes to a Store opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("store is read-only")

	// ErrInvalidJob is returned by Put and Update for a job that must not be
	// stored: an empty key, an unknown state, or a state that requires a
	// request ID (see State.HasRequestID) without one.
	ErrInvalidJob = errors.New("invalid job")

	// ErrRequestIDChange is returned by Put and Update when the write would
	// clear or replace the request ID of a stored job whose render is live
	// (submitted, queued, running or rendered). Losing that ID would lose a
	// paid render. A job in a terminal state, or one that went back to
	// pending, submitting or uncertain, may take a new ID.
	ErrRequestIDChange = errors.New("write would discard the request ID of a live job")

	// ErrSchemaTooNew is returned by Open for a state file written by a newer
	// pikabatch.
	ErrSchemaTooNew = errors.New("state file was written by a newer pikabatch")

	// ErrNotStateFile is returned by Open for a bbolt file that pikabatch did
	// not create.
	ErrNotStateFile = errors.New("not a pikabatch state file")

	// ErrDamaged is returned by Open for a state file that is empty,
	// truncated or corrupt (see DamagedError). Nothing was written to it.
	ErrDamaged = errors.New("state file is damaged")

	// ErrMissing marks a state file that is not there although its folder
	// holds a batch's renders: starting a new state would submit (and pay
	// for) every row again. Callers that look at the folder return it.
	ErrMissing = errors.New("state file is missing")

	// ErrWrite wraps a write the state file could not take (a full volume,
	// an I/O error): the change was not recorded.
	ErrWrite = errors.New("state file cannot be written")

	// ErrJournal is returned by Open for a recovery journal it will not
	// apply: one with a line written for another batch's state file.
	// Nothing of it was applied, and it was left in place. (A line that
	// cannot be read is refused alone: Store.JournalRefused.)
	ErrJournal = errors.New("recovery journal refused")

	// ErrNotRegular is matched by a *NotRegularError: a path beside the batch
	// that should be a regular file is a FIFO, a device or a directory.
	ErrNotRegular = errors.New("not a regular file")
)
