"""Image engine: conditional GAN product images, a classifier gate, personalization by taste.

    pipe = ProductImageGenerator.from_pretrained(settings.image_model_path)  # .version
    images = pipe.generate([ImageRequest(product, seed, taste)])
    vectors = pipe.classifier.embed_photos(paths)  # float32 [N, D] item image vectors (taste)
"""

from recgen.models.image.classifier import ImageClassifier, Prediction
from recgen.models.image.data import ConditionVocab
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import PNG_CONTENT_TYPE, ProductImageGenerator, SamplingConfig

__all__ = [
    "PNG_CONTENT_TYPE",
    "ConditionVocab",
    "ImageClassifier",
    "ImageGenerator",
    "Prediction",
    "ProductImageGenerator",
    "SamplingConfig",
]
