"""Stand-in for torch_utils.ops."""
