// Package live answers an operator's questions about a batch — its status,
// its dataset index, which of its queued jobs to cancel — whether or not a
// run is going on. It lists the index's entries (Source.Export); writing
// them as a file, in any format, is package results' part.
//
// A run owns its state file: bbolt's lock is exclusive, and even a read-only
// open waits for the writer. So a running `pikabatch run` serves the same
// questions on a control socket beside its state file
// (<out>/.pikabatch.db.sock for <out>/.pikabatch.db; see SocketPath), as HTTP over a unix
// socket, and a second process asks it there. Without a live run, the same
// answers come from the state file itself (Open picks the way).
//
// The socket speaks this package's own types as JSON (Status, RunInfo and
// its Figures, CancelReport, and results.Entry lines for an export): live
// does not import the runner, whose run fills Run's figures through
// Run.Snapshot.
//
// A socket rather than a snapshot file written every few seconds, because:
//   - answers are exact and current: status counts are read from the store
//     at the moment of asking, and an export streams the store as it is,
//     without a copy of a million-row index rewritten on a timer;
//   - cancel needs a request and an answer (cancelled, or already running),
//     and the live run must do both the API call and the store write, since
//     it holds the lock — a socket is a request/response channel, a snapshot
//     file would need a second file and polling for requests;
//   - it costs nothing while nobody asks, and a run killed with -9 leaves
//     only a socket file that the next run (which holds the lock, so knows it
//     is stale) removes — only if it is a socket: Listen never removes
//     anything else.
//
// The socket is created with mode 0600: who can write the output folder's
// state can also cancel its jobs, nobody else. It works only on the host of
// the run; on another host the state file's owner file still names the run.
package live
