// Package batch owns one run of a manifest: the flow from options to a
// finished, accounted batch.
//
// Run takes a Config and goes through the steps a run needs, in an order
// that costs nothing until nothing can go wrong: it checks the options,
// validates every row of the manifest, finds the state file and judges it
// (a missing state beside this batch's renders, or a damaged one, is
// refused with the ways back, unless Config.Fresh starts over), claims the
// output folder's split, binds the state to its API and model, settles the
// input schema the rows are keyed with, reads the model's price and the
// account's balance, and only then runs the pipeline (package runner).
// After the run it accounts the spend, compacts the state file and writes
// the results index's exports. Preview does the same judging for a dry run
// and returns the plan instead of running it; it writes nothing.
//
// The package prints nothing: what a command shows (the summary, the plan,
// the spend) comes back in Result and PreviewResult. Errors a caller maps to
// an outcome are typed: *ConfigError is a setting no run can start with,
// ErrManifest a manifest that cannot be read at all, and the sentinels of
// runner, store, api, manifest and money keep their meaning.
//
// # The state file and the folder
//
// A folder of renders without its state file is the one situation where a
// plain run would pay for the whole batch again: a fresh state knows of no
// job. So a run refuses it, naming what it found (the results index, the
// state's own leftovers, result files) and the two ways back: rebuild the
// state from the index (pikabatch recover), or start over knowingly
// (Fresh). A damaged state file is refused the same way and, with Fresh,
// kept aside, never deleted.
//
// Every shard of one folder shares the folder's record (store.Folder): the
// split of the manifest, and the schema the rows are keyed with. Both are
// checked and recorded under the folder's lock, because two shards started
// at the same moment each found none of the other's state files and rows
// were submitted twice.
package batch
