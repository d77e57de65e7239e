//! Provider simulators: HTTP servers faithful to each provider's API, with fixtures and
//! injectable faults, for tests, the sandbox and the benchmark.

pub mod gcore;
