"""Trained model files shipped with the package (see MODEL_CARD.md)."""
