"""Tasks: English fine-tuning and zero-shot evaluation (NLI, NER, QA)."""
