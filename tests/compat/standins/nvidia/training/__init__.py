"""Stand-in for NVIDIA's training package."""
