"""What an episode leaves: the episode record and its Parquet writer (`records`), trajectory side files
(`trajectories`), success rates with CIs (`stats`), per-configuration summaries (`summary`), sweep
tables (`tables`) and the results store (`store`).
"""
