package main

import "strconv"

// plural is "1 job" or "3 jobs": n and the noun, in the plural unless n is
// one. Counts printed bare ("1 jobs") read as a mistake.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
