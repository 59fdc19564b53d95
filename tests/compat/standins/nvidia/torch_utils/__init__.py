"""Stand-in for NVIDIA's torch_utils package (tests of fastgan.compat)."""
