# keras.preprocessing is not stubbed: its contents are `Any` to mypy.
from _typeshed import Incomplete

def __getattr__(name: str) -> Incomplete: ...
