"""Locomotion experts: the SAC ant that OGBench's antmaze datasets are collected with.

`gcttt expert train ant` trains it (`gcttt.datagen.expert.train`), `gcttt.datagen.expert.shipped` loads the
copy that ships inside the package, and `gcttt.datagen.collect_maze` drives it through a maze.
"""
