"""File formats and provenance: atomic writes and locks (`fileio`), checkpoints (`checkpoint`), where a
result came from (`provenance`).
"""
