"""PyTorch export: a network becomes a self-contained folder with a readable ``nn.Module`` and its weights."""
