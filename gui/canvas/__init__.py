"""The network canvas: a scene that follows the document, and the view that shows it."""
