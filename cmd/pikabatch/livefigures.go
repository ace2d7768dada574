package main

import (
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/live"
)

// liveFigures copies a runner's account into the control socket's wire
// format, sharing s's maps and slices (Snapshot returns fresh ones).
// live owns that format, so that it need not import runner;
// TestLiveFiguresMatchSummary keeps the two encoding alike.
func liveFigures(s runner.Summary) live.Figures {
	return live.Figures{
		Rows: s.Rows, Submitted: s.Submitted, Resent: s.Resent, Uncertain: s.Uncertain, Held: s.Held,
		Completed: s.Completed, Downloaded: s.Downloaded, Failed: s.Failed, FailReasons: s.FailReasons,
		SkippedDone: s.SkippedDone, Changed: s.Changed, NotSubmitted: s.NotSubmitted, LeftInFlight: s.LeftInFlight,
		Polls: s.Polls, DownloadRetries: s.DownloadRetries, URLRefreshes: s.URLRefreshes,
		AccountJobs: s.AccountJobs, Parked: s.Parked, StatusWords: s.StatusWords,
		Final: s.Final, Wall: s.Wall,
		Orphans: s.Orphans, OrphanKeys: s.OrphanKeys, OrphansInFlight: s.OrphansInFlight,
		OrphansCollected: s.OrphansCollected, OrphansFailed: s.OrphansFailed,
		FailedBefore: s.FailedBefore, FailedBeforeKeys: s.FailedBeforeKeys,
	}
}

// liveSnapshot is the live.Run.Snapshot of a runner.
func liveSnapshot(r *runner.Runner) func() live.Figures {
	return func() live.Figures { return liveFigures(r.Snapshot()) }
}
