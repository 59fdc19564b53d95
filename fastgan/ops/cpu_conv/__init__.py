"""The cpu backend's convolution machinery, used by modulated_conv2d and reference.conv2d_resample's
convolution hooks (not public ops): Winograd F(4x4, 3x3) for stride-1 3x3 convolutions (winograd),
the stride-2 3x3 convolutions by output phase (winograd_s2) and the float32 batched GEMM with its
1x1 convolution (gemm). Each is a set of registered custom ops with their adjoints as backward."""
