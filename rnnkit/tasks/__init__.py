"""One file per task: its Config, its model, its data, its evaluation and its CLI verbs."""
