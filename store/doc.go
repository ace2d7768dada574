// Package store persists pikabatch's checkpoint: one record per job, in a
// bbolt file beside the outputs (by default <out>/.pikabatch.db).
//
// # Durability
//
// Every Put and Update returns only after its bbolt transaction has been
// committed and fsynced (bbolt with NoSync off). A caller that has Put a
// request ID can therefore poll it, log it or count it knowing that a crash,
// kill -9 or power cut will not lose it. Open fsyncs the file's directory
// too, so the file itself survives a power cut.
//
// Concurrent writers are coalesced with bbolt's Batch: calls that arrive
// within a couple of milliseconds share one transaction and one fsync, so a
// pool of hundreds of workers costs a handful of fsyncs per second rather
// than one per job. Stats reports the ratio.
//
// # Locking
//
// bbolt takes an exclusive flock on the file, so only one Store (in any
// process, including this one) has it open for writing. Right after taking
// the lock, Open writes a small JSON file, <path>.owner, naming the holder
// (pid, host, start time, command); Close removes it. When Open cannot get
// the lock it returns a *LockedError that names the holder from that file.
// The lock is the truth and the owner file only feeds the message: a stale
// owner file left by a process that died never blocks Open.
//
// The state file belongs on a local filesystem. On Linux, flock is held by an
// open file description, so a second Open in the same process is refused as
// well; over NFS it is emulated with per-process POSIX locks, which neither
// refuse a second Open in the same process nor survive it closing its file.
//
// # Records
//
// The "jobs" bucket maps each job key to the JSON of its Job, so the file can
// be inspected with any bbolt tool and old records decode in newer versions.
// The "meta" bucket holds small strings about the batch and the schema
// version; Open refuses a file written with a newer schema.
//
// # Job states
//
// A row starts pending. Its job is recorded submitting, durably, before
// its submit is sent, and submitted once the API's answer gives it a
// request ID; a submit whose answer is lost leaves it uncertain until it
// is sent again (submitting once more) or held. A submitted job goes
// through queued and running as the API reports them, to rendered
// (completed on the API, outputs known) and done (every file on disk under
// its final name). failed, cancelled, timed_out and expired (the API no
// longer knows the request ID) end it too; a run asked to retry them sends
// the row again from submitting. State.IsTerminal, State.HasRequestID and
// AllStates say which state is which.
//
// # Binding
//
// A state file belongs to the API origin and the model its jobs were sent
// to: a request ID means something only to the API that issued it, and a
// row rendered by one model is not done for another. Bind records both on
// first use (in the "meta" bucket) and refuses, with a *BindingError and
// before anything is sent, a command that would use the file with another
// origin or model.
//
// # Damage
//
// Open never starts a damaged file over and never crashes on one. Before
// bbolt maps an existing file, Open checks its size and both meta pages
// (bbolt alone would fall back to the older meta page, losing the last
// commit, and would fault on a truncated file); once the lock is held it
// reads every page of the tree and runs bbolt's consistency check, with a
// panic or memory fault turned into an error (about 30 ms for 100,000
// jobs). A file that fails is a *DamagedError (ErrDamaged) and is left
// untouched. An empty existing file is damaged too: bbolt would quietly
// initialise it.
//
// The store guards the one invariant whose violation costs money: a write may
// not clear or replace the request ID of a job whose render is live
// (submitted, queued, running or rendered). See ErrRequestIDChange.
package store
