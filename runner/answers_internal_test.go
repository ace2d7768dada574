package runner

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAnswerDecisions: the answer watch's verdicts on sequences of submit
// answers, in the order they came. Each answer is a letter: u uncertain,
// k clear (an accepted job or the API's own refusal); upper case when the
// submit went alone. Each verdict is a letter too: f fine, c careful (one
// submit at a time), s stop.
func TestAnswerDecisions(t *testing.T) {
	t.Parallel()
	// Lost answers sent alone: one short of a stop, and a stop.
	short, row := strings.Repeat("U", answerAloneRun-1), strings.Repeat("U", answerAloneRun)
	c := func(n int) string { return strings.Repeat("c", n) }
	f := func(n int) string { return strings.Repeat("f", n) }
	cases := []struct {
		name, answers, verdicts string
	}{
		{"clear answers are fine", "kkkkkkkkkkkk", f(12)},
		{"the first answer lost: one at a time", "u", "c"},
		{"two of three lost is not most", "kuu", "fff"},
		{"most of the window lost: one at a time", "kkkuuuuuuu", f(9) + "c"},
		{"less than most lost stays fine", "kkkkuuuuuu", f(10)},
		{"lost answers sent alone in a row stop", "uuu" + row, "ccc" + c(answerAloneRun-1) + "s"},
		{"a stop is final", "uuu" + row + "kkkkkkkkkk", "ccc" + c(answerAloneRun-1) + "s" + strings.Repeat("s", 10)},
		{"stragglers' lost answers do not count in the row", "uuu" + short + "uuuuuu", "ccc" + c(answerAloneRun-1) + c(6)},
		{"a clear answer from anyone ends the row", "uuu" + short + "k" + row, "ccc" + c(answerAloneRun-1) + "c" + c(answerAloneRun-1) + "s"},
		{"a clear answer sent alone ends the row too", "uuu" + short + "K" + row, "ccc" + c(answerAloneRun-1) + "c" + c(answerAloneRun-1) + "s"},
		{"one at a time ends when the window clears", "uuuKK", "ccc" + "cf"},
		{"lost answers sent alone, short of a row, are fine", "kkkkkkkkkk" + short, f(10 + answerAloneRun - 1)},
		{"a mostly lost window after a clear start", "kkkkkkkkkk" + "uuuuuuu" + short, f(16) + c(answerAloneRun)},
		{"and the row, with it, stops", "kkkkkkkkkk" + "uuuuuuu" + row, f(16) + c(answerAloneRun) + "s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if len(tc.verdicts) != len(tc.answers) {
				t.Fatalf("case has %d answers and %d verdicts", len(tc.answers), len(tc.verdicts))
			}
			w := &answerWatch{}
			var got strings.Builder
			for _, a := range tc.answers {
				uncertain := a == 'u' || a == 'U'
				alone := a == 'U' || a == 'K'
				got.WriteByte("fcs"[w.answer(uncertain, alone)])
			}
			assert.Equal(t, tc.verdicts, got.String())
		})
	}
}

// TestAnswerWatchCareful: careful says whether the next submit goes alone.
func TestAnswerWatchCareful(t *testing.T) {
	t.Parallel()
	w := &answerWatch{}
	assert.False(t, w.careful(), "no answers yet")
	w.answer(false, false)
	assert.False(t, w.careful(), "one clear answer")
	w.answer(true, false)
	assert.False(t, w.careful(), "one lost of two")
	w.answer(true, false)
	assert.False(t, w.careful(), "two lost of three")
	w.answer(true, false)
	assert.True(t, w.careful(), "three lost of four")
	for range answerWindow {
		w.answer(false, false)
	}
	assert.False(t, w.careful(), "the window cleared")
}

// TestAnswerWatchNeverStopsOnAFewLostAnswers plays the answer watch the
// answers of long runs that lose a share of their submits' answers at
// random, a run's submits going alone as the watch says: a few lost in a
// hundred, as the chaos and soak tests lose (5xx, drops and lost answers
// on a submit: about one in nine), never stop the run, nor does the
// rarer loss of a bad hour (one in four).
func TestAnswerWatchNeverStopsOnAFewLostAnswers(t *testing.T) {
	t.Parallel()
	for _, lost := range []float64{0.03, 0.11, 0.25} {
		rng := rand.New(rand.NewPCG(uint64(lost*1000), 19))
		for run := range 200 {
			w := &answerWatch{}
			for i := range 2000 {
				alone := w.careful()
				if w.answer(rng.Float64() < lost, alone) == answersStop {
					t.Fatalf("%.0f%% lost: run %d stopped at answer %d", lost*100, run, i)
				}
			}
		}
	}
}
