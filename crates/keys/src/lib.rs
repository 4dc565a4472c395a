//! AWS access key ID formats.
