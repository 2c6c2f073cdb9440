"""`gcttt evaluate` (placeholder until its issue lands)."""


def add_parser(sub) -> None:
    pass
