package bench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcMem(t *testing.T) {
	m := parseProcMem([]byte("Name:\tpikabatch\nVmHWM:\t  3000 kB\nVmRSS:\t  2000 kB\nRssAnon:\t  1200 kB\nRssFile:\t   700 kB\nRssShmem:\t  100 kB\n"))
	require.True(t, m.ok)
	assert.Equal(t, procMem{RSS: 2000 << 10, HWM: 3000 << 10, Anon: 1200 << 10, File: 700 << 10, Shmem: 100 << 10, ok: true}, m)
	assert.False(t, parseProcMem([]byte("Name:\tzombie\nState:\tZ (zombie)\n")).ok, "an exited process has no memory to report")
}

func TestParseMappedRSS(t *testing.T) {
	smaps := `55d0a0000000-55d0a0100000 r-xp 00000000 fd:01 123   /usr/bin/pikabatch
Rss:                 900 kB
7f0000000000-7f0004000000 r--s 00000000 fd:01 456   /data/out/.pikabatch.db
Size:              65536 kB
Rss:                4096 kB
VmFlags: rd sh mr mw me ms sd
7f0010000000-7f0010100000 rw-p 00000000 00:00 0
Rss:                2048 kB
7f0020000000-7f0024000000 r--s 00000000 fd:01 457   /data/other/.pikabatch.db
Rss:                 100 kB
`
	assert.Equal(t, int64(4096)<<10, parseMappedRSS([]byte(smaps), "/data/out/.pikabatch.db"))
	assert.Equal(t, int64(4196)<<10, parseMappedRSS([]byte(smaps), ".pikabatch.db"))
	assert.Zero(t, parseMappedRSS([]byte(smaps), "/nothing"))
}

func TestCutTenths(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 1000 jobs: none for the first second, then 100 jobs a second for the
	// first half and 50 a second for the second; memory grows by 1 MB a
	// second.
	var samples []sample
	done := 0.0
	for ms := 0; ms <= 16_000; ms += 100 {
		at := t0.Add(time.Duration(ms) * time.Millisecond)
		s := sample{at: at, countersOK: true, mapRSS: -1,
			mem: procMem{ok: true, Anon: int64(ms/1000) << 20, RSS: int64(ms/1000+10) << 20}}
		if ms >= 1000 {
			s.requests = 1
		}
		s.done = int64(math.Round(done))
		samples = append(samples, s)
		if ms >= 1000 {
			if done < 500 {
				done += 10
			} else {
				done = min(1000, done+5)
			}
		}
	}
	tt, err := cutTenths(samples, 1000, t0)
	require.NoError(t, err)
	assert.Equal(t, time.Second, tt.startup)
	assert.InDelta(t, 100, tt.rate[0], 1)
	assert.InDelta(t, 100, tt.rate[4], 1)
	assert.InDelta(t, 50, tt.rate[9], 1)
	assert.Equal(t, int64(2)<<20, tt.anon[0], "the highest sample of the tenth (1 s to 2 s)")
	assert.Equal(t, int64(16)<<20, tt.anon[9], "14 s to 16 s")
	assert.Equal(t, int64(16)<<20, tt.peakAnon)
	assert.True(t, tt.hasMem)
	assert.Equal(t, int64(-1), tt.mapRSS[0], "never read")

	_, err = cutTenths(samples[:50], 1000, t0)
	assert.Error(t, err, "a run whose downloads were not all seen")
}
