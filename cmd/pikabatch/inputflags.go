package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/inputs"
)

// inputOptions say how the manifest's files that the API cannot fetch
// itself reach it: local files staged to a bucket or sent inline, and how
// long pre-signed URLs live.
type inputOptions struct {
	stageTo    string
	inline     bool
	presignTTL time.Duration
}

// register adds --stage-to and --inline, and --presign-ttl when the
// command sends anything (run, demo; not validate).
func (o *inputOptions) register(fs *pflag.FlagSet, sends bool) {
	fs.StringVar(&o.stageTo, "stage-to", "", "upload the manifest's local files to this bucket `URL` prefix (s3://bucket/prefix, gs://…, azblob://…), each once, named by its SHA-256, and send the API pre-signed URLs; credentials come from the cloud's environment")
	fs.BoolVar(&o.inline, "inline", false, "send the manifest's local files in the request as data: URIs (image ≤ 6 MiB and 32 megapixels, video ≤ 32 MiB, audio ≤ 16 MiB, request ≤ 64 MiB)")
	if sends {
		fs.DurationVar(&o.presignTTL, "presign-ttl", inputs.DefaultPresignTTL, "how long the pre-signed URLs of bucket inputs and staged files stay valid (at most a week)")
	}
}
