// Package money owns what a batch costs: the price of a job, the budget
// (--max-cost), the budgeted API that consults the budget before each
// submit is sent, and the spend a state file records.
//
// # Prices
//
// A Pricer estimates a job from the catalog's price of a model:
// base_price_usd applied per output, or per second of output when the
// price unit says so, or a --price override per job. It never guesses: a
// unit it does not know, a missing price or a per-second row without a
// duration is an unknown cost, with the reason. A batch records its price
// in the state file at first use (PriceMetaKey), so that status and export
// estimate the jobs without a reported cost with no catalog at hand.
//
// # The budget
//
// A Budget caps the estimated spend of a batch in dollars. It is consulted
// right before each submit is sent, re-sends of uncertain submits
// included: Reserve takes the job's estimated price from what is left, or
// refuses with ErrOverBudget when it would take the batch past its limit.
// A submit the API provably did not take (a refusal, or one never sent)
// gives its reservation back with Release; an uncertain one keeps it,
// because the job may exist and be paid for. Amounts are kept in
// micro-dollars so that sums are exact and a batch stops exactly at its
// limit.
//
// # The budgeted API
//
// Batch.API puts the budget in front of the job API: the job's estimate is
// reserved at the client's send gate, which the API asks before every
// attempt (after the rate limiter's wait, before the runner records
// "submitting"), and given back when the API provably did not take the
// job. It relies on that contract: a submit the gate did not reserve was
// not sent. Jobs in flight count at their estimate until their Result
// reports what the API charged; a charge above the estimate counts too.
//
// # Spend
//
// The spend of a batch is read from its state file: SpentInState is what
// the budget counts (each job at the highest price any run priced it at,
// or its reported cost, times the submits that may have been charged);
// SpendOf is what the account tells (reported costs, and estimates for the
// jobs without one). The prices runs used are recorded
// (BudgetPricesMetaKey) so that a price that drops between runs gives no
// budget back.
//
// Dollar amounts are printed with account.Format, the one dollar format
// every surface of pikabatch uses.
package money
