"""Offline, deterministic language functions for the embedded backend of language operators.

Pure Python: no ORM, no I/O, no model downloads. ``text`` tokenizes; ``sentiment`` scores
utterances and conversations with VADER; ``summary`` extracts a short summary; ``patterns``
runs admin-defined classifiers and extractors. Import the submodule you need: this package
imports nothing eagerly, so a process that only tokenizes never loads VADER's lexicon.
"""
