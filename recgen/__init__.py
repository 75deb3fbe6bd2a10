"""recgen: personalized generated product content for e-commerce recommenders."""

__version__ = "0.1.0"
