package main

import "github.com/pikabatch/pikabatch/runner/account"

// plural is "1 job" or "3 jobs" (account.Plural), as every surface counts.
func plural(n int, noun string) string { return account.Plural(n, noun) }
