"""Image engine: conditional GAN product images, a classifier gate, personalization by taste."""
