//! The detection core.
