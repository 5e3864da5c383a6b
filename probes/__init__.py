"""Probes: word distances, paired differences, retrieval, landscape analyses."""
