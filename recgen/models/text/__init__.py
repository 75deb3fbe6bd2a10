"""The text engine: personalized product descriptions from a causal LM, behind a gate.

Public interface: :class:`TextModel` (``from_pretrained`` / ``save_pretrained`` / batched
``generate``), :class:`DescriptionGenerator` (model + gate -> ``GeneratedText``),
:func:`recgen.models.text.gate.check_description`, :mod:`recgen.models.text.eval`.
"""

from recgen.models.text.generator import DescriptionGenerator
from recgen.models.text.model import TextModel
from recgen.models.text.sampling import SamplingSettings

__all__ = ["DescriptionGenerator", "SamplingSettings", "TextModel"]
