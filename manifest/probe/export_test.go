package probe

import "context"

// Peaks reports the most verdicts c held at once and the most items Run
// read ahead of its reports.
func (c *Checker) Peaks() (cached, window int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakCached, c.peakWindow
}

// Window is how many items Run reads ahead with c.
func (c *Checker) Window() int { return windowPerCheck * c.cfg.Concurrency }

// Check returns the verdict on rawURL as an image, asking its host only
// when no check of it is under way or remembered. The error is ctx's, when
// it ends first; a host's failure is a Result.
func (c *Checker) Check(ctx context.Context, rawURL string) (Result, error) {
	return c.CheckKind(ctx, rawURL, KindImage)
}
