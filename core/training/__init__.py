"""Training: the trainer loop, regularisation, augmentation and early stopping."""
