"""Sending the deliveries the evaluation cycle writes: gates, jobs and channels."""
