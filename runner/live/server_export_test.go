package live

import "time"

// SetGrace sets how long s.Close lets answers in progress finish.
func SetGrace(s *Server, d time.Duration) { s.grace = d }

// SetKeepalive sets how often s sends a space while a long answer works.
func SetKeepalive(s *Server, d time.Duration) { s.keepalive = d }
