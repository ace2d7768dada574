package bucket_test

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucket/versitygw"
)

// BenchmarkVersitygwUpload256KiB uploads distinct 256 KiB objects (the
// size of the sync bench's videos) to a local versitygw through Client,
// many at a time: what one upload costs when nothing but the server and
// the SDK stand in the way.
func BenchmarkVersitygwUpload256KiB(b *testing.B) {
	benchVersitygw(b, func(c *bucket.Client, l bucket.Location, src bucket.Source) error {
		_, err := c.Upload(b.Context(), l, src)
		return err
	})
}

// BenchmarkVersitygwPut256KiB is the same with Put, as a run copies each
// video it has just saved: no look at the bucket first.
func BenchmarkVersitygwPut256KiB(b *testing.B) {
	benchVersitygw(b, func(c *bucket.Client, l bucket.Location, src bucket.Source) error {
		return c.Put(b.Context(), l, src)
	})
}

func benchVersitygw(b *testing.B, send func(*bucket.Client, bucket.Location, bucket.Source) error) {
	srv := versitygw.Start(b)
	srv.CreateBucket(b, "bench")
	srv.SetEnv(b)
	c := bucket.NewClient()
	b.Cleanup(func() { _ = c.Close() })
	body := make([]byte, 256<<10)
	_, _ = rand.Read(body)
	src := memSource(body, "video/mp4")
	var n atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8) // 8 × GOMAXPROCS uploads in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Errors, not FailNow: these goroutines are not the benchmark's.
		for pb.Next() {
			l, err := bucket.Parse(fmt.Sprintf("s3://bench/v/%d.mp4", n.Add(1)))
			if err == nil {
				err = send(c, l, src)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
