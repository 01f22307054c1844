# keras.ops.image is not stubbed in detail: its functions are `Any` to mypy.
from _typeshed import Incomplete

def __getattr__(name: str) -> Incomplete: ...
