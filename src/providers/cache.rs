//! Per-scope caches of provider list results, shared by all reconciles of one provider config.
