// Stand-in for the CUDA runtime header in the emulated build (csrc/emu/cuda_emu.h).
#pragma once
#include "emu/cuda_emu.h"
