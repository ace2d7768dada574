// Package bucketsync keeps copies of a batch's outputs in a bucket prefix
// (--sync-to): each video as soon as it is safe on the local disk, and the
// batch's index and dataset metadata at the end of each run.
//
// The local folder is the batch's truth; the bucket is a copy. So a copy
// is made only of a file already fsynced and recorded done, and a bucket
// that cannot be reached changes nothing else: no local file is removed,
// no row is submitted again, and the files not copied wait for the next
// run, which finds them from the state (Finish's error then says how many
// wait, and the command exits "try again later").
//
// Every upload is recorded in the state file, keyed by the object's
// bucket URL, with the size and SHA-256 it was sent with; the object
// carries the same digest in its metadata. A resumed run uploads only the
// files without such a record, and even then an object already there with
// the same size and digest is not sent again. Uploads run a bounded number
// at once and stream each file from disk, hashing it on the way: a file
// that no longer matches the state's digest is not uploaded, and the
// object it would have made is aborted.
package bucketsync
