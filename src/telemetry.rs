//! Logging and tracing setup.
