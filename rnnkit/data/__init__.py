"""Loading and batching, one file per kind of data. Each loader validates its input."""

from rnnkit.data.text import (
    STDLIB_MODULES,
    Corpus,
    StreamBatches,
    TextDataError,
    Vocab,
    default_corpus_files,
    encode_text,
    load_corpus,
    scoring_batches,
    split_corpus,
)

__all__ = [
    "STDLIB_MODULES",
    "Corpus",
    "StreamBatches",
    "TextDataError",
    "Vocab",
    "default_corpus_files",
    "encode_text",
    "load_corpus",
    "scoring_batches",
    "split_corpus",
]
