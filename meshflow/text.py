"""Text encoders (``clip-vit-l-14``, ``minilm``): the public names of :mod:`meshflow.models.text`."""
from .models import text as _text

__all__ = list(_text.__all__)
globals().update({name: getattr(_text, name) for name in __all__})
