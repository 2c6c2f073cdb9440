"""gcttt: goal-conditioned test-time training (GC-TTT) for offline RL on OGBench.

The library is pure PyTorch/NumPy/OGBench: it never imports ray or mlflow. Data flows one way:
dataset -> sampler -> backbone -> selection -> fine-tuning -> episode record.
"""

__version__ = "0.1.0"
