package probe

// Peaks reports the most verdicts c held at once and the most items Run
// read ahead of its reports.
func (c *Checker) Peaks() (cached, window int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakCached, c.peakWindow
}

// Window is how many items Run reads ahead with c.
func (c *Checker) Window() int { return windowPerCheck * c.cfg.Concurrency }
