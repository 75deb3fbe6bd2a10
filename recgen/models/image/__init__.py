"""Image engine: conditional GAN product images, a classifier gate, personalization by taste.

    gen = ImageGenerator.from_pretrained(settings.image_model_path)
    clf = ImageClassifier.from_pretrained(settings.image_classifier_path)
    images = ProductImageGenerator(gen, clf).generate([ImageRequest(product, seed, taste)])
    vectors = clf.embed_photos(paths)  # float32 [N, D] item image vectors (taste space)
"""

from recgen.models.image.classifier import ImageClassifier, Prediction
from recgen.models.image.data import ConditionVocab
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import PNG_CONTENT_TYPE, ProductImageGenerator

__all__ = [
    "PNG_CONTENT_TYPE",
    "ConditionVocab",
    "ImageClassifier",
    "ImageGenerator",
    "Prediction",
    "ProductImageGenerator",
]
