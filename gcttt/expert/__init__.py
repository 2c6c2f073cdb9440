"""Locomotion experts: the SAC ant that OGBench's antmaze datasets are collected with.

`gcttt expert train ant` trains it (`gcttt.expert.train`), `gcttt.expert.shipped` loads the
copy that ships inside the package, and `gcttt.data.collect_locomaze` drives it through a maze.
"""
