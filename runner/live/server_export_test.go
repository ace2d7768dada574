package live

import "time"

// SetGrace sets how long s.Close lets answers in progress finish.
func SetGrace(s *Server, d time.Duration) { s.grace = d }
