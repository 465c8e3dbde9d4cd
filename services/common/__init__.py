"""Shared service infrastructure: configuration, artifact store, errors, server bootstrap, metrics."""
