"""Adjust stage: alignment objectives and the training loop that writes checkpoints."""
