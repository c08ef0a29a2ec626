"""Deployments: serve models real-time, as multi-model endpoints, in batch and asynchronously."""
