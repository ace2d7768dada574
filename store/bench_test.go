package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPutParallel measures Put throughput with as many concurrent
// writers as a worker pool would run, and how many commits (fsyncs) each
// write costs.
func BenchmarkPutParallel(b *testing.B) {
	for _, perProc := range []int{1, 16, 128} {
		writers := perProc * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchPut(b, perProc)
		})
	}
}

// BenchmarkPut is one writer: every Put pays the batch delay and a commit.
func BenchmarkPut(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	job := newJob("")
	job.State, job.RequestID = StateSubmitted, "req"
	b.ResetTimer()
	for i := range b.N {
		job.Key = fmt.Sprintf("job-%08d", i)
		if err := s.Put(ctx, job); err != nil {
			b.Fatal(err)
		}
	}
	reportWrites(b, s)
}

func benchPut(b *testing.B, perProc int) {
	s := openBench(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(perProc)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		job := newJob("")
		job.State, job.RequestID = StateSubmitted, "req"
		for pb.Next() {
			job.Key = fmt.Sprintf("job-%08d", seq.Add(1))
			if err := s.Put(ctx, job); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportWrites(b, s)
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), ".pikabatch.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

func reportWrites(b *testing.B, s *Store) {
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Writes)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(st.Commits)/float64(st.Writes), "commits/write")
}
