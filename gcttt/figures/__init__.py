"""Pictures of results inside the library: the house figure style (`style`), maze pictures of recorded
episodes (`episode_pictures`) and episode videos (`video`).
"""
