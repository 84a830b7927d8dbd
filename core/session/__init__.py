"""Training sessions: runs, their requests, engines and workers, without any GUI."""
