// Package inputs gets a row's files to the API.
//
// The API fetches every file input itself, from a URL it can GET without
// credentials. A manifest may name files the API cannot reach: objects in
// private buckets (s3://, gs://, azblob://) and local files (recorded by
// the manifest as file:PATH#sha256=HEX, see manifest.LocalRef). Just before
// each submit, and again before each re-send, a Sender rewrites the
// request body: a bucket URL becomes a pre-signed GET URL valid for
// Config.PresignTTL; a local file becomes either the pre-signed URL of its
// copy in the staging bucket (uploaded once, content-addressed as
// prefix/<sha256>.<ext>) or a data: URI of its bytes (inline).
//
// Only the API sees the rewritten body. The runner records, and the index,
// exports, logs and the report show, the row as the manifest gave it: a
// pre-signed URL is a credential and a data: URI is the file's bytes, and
// neither is kept. Signatures are made afresh for every send, so a re-send
// days later carries a URL that still works.
//
// A staged upload is recorded in the state (store.Staged) once it is in
// the bucket, so a resumed run uploads nothing again: it looks each
// recorded object up once (a lifecycle rule may have deleted it, and the
// API would fail a job whose image it cannot fetch; a missing one is
// uploaded again), and within a run each file is staged once. The object
// is named by the digest the row's key was made from: an object of that
// name holds the content the key stands for, so once staged the local
// file is not read again. A local file sent inline,
// or uploaded, is checked against that digest as it is read; a file
// edited since the manifest was read is not sent (its row fails with
// ErrFileChanged, no submit made), as the key would stand for other bytes.
package inputs
