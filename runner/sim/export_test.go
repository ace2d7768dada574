package sim

// Balance returns how many more jobs of Config.Model the account can pay
// for, and false when it is unlimited. The balance is kept in dollars
// (BalanceUSD); a job is priced as in the catalog.
func (s *Server) Balance() (jobs int64, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobsLeft(), s.balance.limited
}
