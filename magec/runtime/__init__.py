"""Live agents: an immutable runtime snapshot built from the store, swapped atomically on change."""
