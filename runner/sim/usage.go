package sim

// Usage describes the simulator for people, as `pikabatch sim --help`
// prints it: what it speaks, its fault flags' rates, and the endpoints it
// serves besides the API's documented four. It lives beside the handlers
// so that an endpoint and its description change together.
const Usage = `Run the simulated RunComfy Model API, speaking the documented contract:
result "succeeded", cancel 202 with an outcome, errors with a numeric
error_code. Fault flags take a rate in [0, 1], drawn from --seed.

Admin endpoints on the API address (no token):
  GET  /_sim/counters                what the simulator saw, as JSON
  GET  /_sim/balance                 {"limited": true, "jobs_left": N, "balance_usd": X}
  POST /_sim/balance                 {"add_jobs": N} or {"add_usd": X} tops up while it runs;
                                     {"jobs": N} or {"usd": X} sets it (< 0: unlimited)
  POST /_sim/requests/ID/expire      the request answers 404001 from then on
  POST /_sim/requests/ID/disown      the request answers 403001 (another account)

API endpoints besides the documented four (token required, no faults):
  GET  /v1/models?search=&category=&include_schema=true&limit=&offset=
  GET  /v1/models/ID                 the catalog: three models, their schemas and prices
  GET  /prod/v2/balance              {"balance_usd": X, "currency": "USD"}
  GET  /v1/requests/ID/result?include_cost=true   adds "cost" once completed`
