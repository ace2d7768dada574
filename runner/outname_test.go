package runner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutputNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		i, n int
		long bool
		want string
	}{
		{"clip-0001", 0, 1, false, "clip-0001.mp4"},
		{"m", 0, 2, false, "m+1.mp4"},
		{"m", 1, 2, false, "m+2.mp4"},
		{"m-1", 0, 1, false, "m-1.mp4"},
		{"m-1", 0, 1, true, "m-1+1.mp4"},
		{"Dup", 0, 1, false, "Dup+c8.mp4"},
		{"dup", 0, 1, false, "dup.mp4"},
		{"DUP", 0, 1, false, "DUP+ce.mp4"},
		{"ForestStream", 1, 3, false, "ForestStream+c820+2.mp4"},
		{"Scene01", 0, 1, false, "Scene01+c80.mp4"},
		{"r-0123abcd-2", 0, 1, false, "r-0123abcd-2.mp4"},
		{"../etc/x", 0, 1, false, "key+x" + "fb5e1cd1c4f1ff2d5a6f86f14a2b5b3c.mp4"},
	} {
		got := outputName(tc.key, tc.i, tc.n, ".mp4", tc.long)
		if strings.HasPrefix(tc.want, "key+x") {
			assert.True(t, strings.HasPrefix(got, "key+x"), "%q → %q", tc.key, got)
			assert.NotContains(t, got, "/")
			continue
		}
		assert.Equal(t, tc.want, got, "key %q output %d of %d", tc.key, tc.i, tc.n)
	}
}

// TestOutputNamesAreUniqueIgnoringCase checks the construction over keys
// built to collide: prefixes of each other, the old "-n" suffixes, case
// variants, keys that look like names with extensions. Every (key, output)
// pair must get its own name, compared ignoring case, among final names
// (short and long) and among part names.
func TestOutputNamesAreUniqueIgnoringCase(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, base := range []string{"m", "a.mp4", "x_1", "r-00ff", "clip.01"} {
		for _, suffix := range []string{"", "-1", "-2", "-1-2", "-10", ".mp4", ".jpeg", "-c8", "_1"} {
			k := base + suffix
			keys = append(keys, k, strings.ToUpper(k), strings.ToUpper(k[:1])+k[1:], k[:len(k)-1]+strings.ToUpper(k[len(k)-1:]))
		}
	}
	seenKey := map[string]bool{}
	final := map[string]string{} // folded name → key/output that has it
	part := map[string]string{}
	claim := func(m map[string]string, name, who string) {
		t.Helper()
		f := strings.ToLower(name)
		if prev, ok := m[f]; ok && prev != who {
			t.Errorf("%s and %s share the name %q", prev, who, name)
		}
		m[f] = who
	}
	for _, k := range keys {
		if seenKey[k] {
			continue
		}
		seenKey[k] = true
		for n := 1; n <= 3; n++ {
			for i := range n {
				who := fmt.Sprintf("%s#%d", k, i)
				for _, ext := range []string{".mp4", ".jpeg", ".jpg"} {
					for _, long := range []bool{false, true} {
						name := outputName(k, i, n, ext, long)
						require.NotContains(t, name, "/")
						// A job's outputs are numbered within the job: the
						// same key and number is the same output.
						claim(final, name, who)
					}
				}
				claim(part, partName(k, i), who)
			}
		}
	}
}

func TestCaseCode(t *testing.T) {
	t.Parallel()
	assert.Empty(t, caseCode("lower-case_01"))
	assert.Equal(t, "8", caseCode("Dup"))
	assert.Equal(t, "1", caseCode("abcD"))
	assert.Equal(t, "18", caseCode("abcDE"))
	assert.Equal(t, caseCode("aB-1c"), caseCode("aBc"), "only letters count")
}
