//! Faults: traps, panics and bad answers are answered, and the plugin comes back.
