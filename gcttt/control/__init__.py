"""The test-time training control loop and the episodes it plays: TTT's configuration and receding-horizon
loop (`ttt`), one episode (`episode`), the runner that plays a task with any method (`runner`), the
pre-trained policy's evaluation (`evaluation`), FLOP accounting (`flops`) and task suites (`tasks`).
"""
