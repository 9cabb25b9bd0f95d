"""Training (paper §3.1.2, spec model.md §3): Adafactor, schedules, checkpoints, one trainer, CLI stages.

`trainer.train` runs one phase (pre-training or fine-tuning) into a workdir that is also its resume key;
`stages.pretrain` / `stages.finetune` are the `t5repro pretrain|finetune` CLI stages.
"""

from t5repro.train.schedules import constant, make_schedule, rsqrt
from t5repro.train.state import TrainState

__all__ = ["TrainState", "constant", "make_schedule", "rsqrt"]
