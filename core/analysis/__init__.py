"""Analysis of a network document: costs, memory and receptive fields."""
