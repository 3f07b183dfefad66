"""Training runs (filled in by the training capability)."""
