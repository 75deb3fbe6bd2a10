"""What the text and image models share: training checkpoints and the optimizer's groups."""
