from keras.dtype_policies import DTypePolicy as DTypePolicy
from keras.optimizers import LossScaleOptimizer as LossScaleOptimizer

def dtype_policy() -> DTypePolicy: ...
def set_dtype_policy(policy: str | DTypePolicy) -> None: ...

global_policy = dtype_policy
set_global_policy = set_dtype_policy
