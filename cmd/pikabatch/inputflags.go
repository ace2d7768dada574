package main

import (
	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/inputs"
)

// registerInputs adds --stage-to and --inline, which say how the
// manifest's files that the API cannot fetch itself reach it, and
// --presign-ttl when the command sends anything (run, demo; not validate).
func registerInputs(fs *pflag.FlagSet, c *batch.Config, sends bool) {
	fs.StringVar(&c.StageTo, "stage-to", "", "upload the manifest's local files to this bucket `URL` prefix (s3://bucket/prefix, gs://…, azblob://…), each once, named by its SHA-256, and send the API pre-signed URLs; credentials come from the cloud's environment")
	fs.BoolVar(&c.Inline, "inline", false, "send the manifest's local files in the request as data: URIs (image ≤ 6 MiB and 32 megapixels, video ≤ 32 MiB, audio ≤ 16 MiB, request ≤ 64 MiB)")
	if sends {
		fs.DurationVar(&c.PresignTTL, "presign-ttl", inputs.DefaultPresignTTL, "how long the pre-signed URLs of bucket inputs and staged files stay valid (at most a week)")
	}
}
