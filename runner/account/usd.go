package account

import (
	"math"
	"strconv"
	"strings"
)

// USD is an amount of money in micro-dollars. Sums of them are exact, where
// sums of float dollars carry binary noise (0.44 printed as
// 0.4399999999999999). In JSON it is a number of dollars with at most six
// decimals.
type USD int64

// maxUSD bounds what Dollars converts: beyond it an int64 of micro-dollars
// would wrap, so the amount saturates there instead.
const maxUSD = float64(math.MaxInt64/2) / 1e6

// Dollars converts a float amount of dollars, rounded to the micro-dollar.
// NaN is 0; amounts beyond what an int64 holds saturate.
func Dollars(v float64) USD {
	switch {
	case math.IsNaN(v):
		return 0
	case v > maxUSD:
		v = maxUSD
	case v < -maxUSD:
		v = -maxUSD
	}
	return USD(math.Round(v * 1e6))
}

// Float is the amount in dollars.
func (u USD) Float() float64 { return float64(u) / 1e6 }

// decimal writes u in dollars with at most six decimals, no trailing zeros.
func (u USD) decimal() string {
	neg := u < 0
	m := uint64(u)
	if neg {
		m = uint64(-u)
	}
	s := strconv.FormatUint(m/1e6, 10)
	if frac := m % 1e6; frac != 0 {
		f := strconv.FormatUint(frac+1e6, 10)[1:]
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes u as a JSON number of dollars, e.g. 0.44.
func (u USD) MarshalJSON() ([]byte, error) { return []byte(u.decimal()), nil }

// UnmarshalJSON reads a JSON number of dollars.
func (u *USD) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*u = Dollars(v)
	return nil
}

// String is the one way pikabatch prints money: a dollar sign and three
// decimals ("$0.528", "$0.600", "$12.000"), more where a smaller amount
// would round away (a price of "$0.0088" a second).
func (u USD) String() string {
	s, owes := strings.CutPrefix(u.decimal(), "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) < 3 {
		frac += strings.Repeat("0", 3-len(frac))
	}
	if owes {
		return "-$" + whole + "." + frac // an account that owes: -$5.250
	}
	return "$" + whole + "." + frac
}

// Format prints a float amount of dollars as USD.String does.
func Format(usd float64) string { return Dollars(usd).String() }
