"""Data loaders for standard formats; ``samples/`` holds the demo corpus."""
