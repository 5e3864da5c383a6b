"""Align stage: parallel text -> Moses tokens -> word alignments -> aligned corpus."""
