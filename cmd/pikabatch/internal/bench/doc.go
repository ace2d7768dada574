// Package bench measures pikabatch against the simulator, scenario by
// scenario, with the targets of issue #5: raw overhead, slot utilisation,
// pickup latency, API economy, rate fidelity, scale and the store.
//
// Every scenario but the store runs the pikabatch binary as a child process
// while the simulator serves it from this process, so the peak RSS and CPU
// reported are pikabatch's own. Each scenario runs several times and reports
// the median of every figure; benchmarks report, they never fail a test on a
// timing.
//
// The simulator's per-job timeline (created, finished, first download) is the
// ground truth for makespan and pickup latency, and its counters are the
// ground truth for calls and 429s: what the client believes it did does not
// count.
//
// It is a harness of the whole program, not part of the pipeline: it runs
// the binary and, for the store scenario, the runner in process. So it lives
// under cmd/pikabatch, which wires everything, and nothing under runner
// imports it or the runner through it.
package bench
