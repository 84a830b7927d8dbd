"""Fuzzing of every loader of untrusted files: seeds, mutators, a sandboxed harness and a short campaign."""
