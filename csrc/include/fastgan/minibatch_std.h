// minibatch_std geometry and math shared by the CPU and CUDA kernels.
//
// x is [N, C, H, W] and y is [N, C+F, H, W], both dense NCHW or both channels_last.
// Sample n is in group m = n mod M (M = N/G);
// the members of group m are m, m + M, ..., m + (G-1)M. Part f holds channels [f*c, (f+1)*c).
//   forward:  sd = sqrt(mean_g((x_g - mean_g x)^2) + eps) per (group, channel, pixel);
//             stat[m, f] = mean of sd over the c channels of part f and the HW pixels;
//             y = concat(x, stat tiled over the group members and pixels) along channels.
//   backward: gstat[m, f] = sum over members and pixels of dy[:, C+f];
//             dx = dy[:, :C] + gstat[m, f] / (c*HW*G) * (x - mean_g x) / sd.
#pragma once
#include <cmath>
#include "fastgan/common.h"

namespace fastgan {

struct MbstdGeom {
  int64_t N, C, HW, G, F, M, c;
  bool cl;  // channels_last

  // A sample is seg_rows() segments of seg_len() contiguous elements in x (and in y, where the
  // statistic channels follow): NCHW has one segment [C*HW], channels_last HW segments [C].
  // Within a segment, part f is the range [f * part_len(), (f+1) * part_len()).
  FASTGAN_HD int64_t seg_rows() const { return cl ? HW : 1; }
  FASTGAN_HD int64_t seg_len() const { return cl ? C : C * HW; }
  FASTGAN_HD int64_t part_len() const { return cl ? c : c * HW; }
  FASTGAN_HD int64_t x_seg(int64_t n, int64_t r) const { return n * C * HW + r * C; }
  FASTGAN_HD int64_t y_seg(int64_t n, int64_t r) const { return n * (C + F) * HW + r * (C + F); }
  FASTGAN_HD int64_t x_member_stride() const { return M * C * HW; }
  FASTGAN_HD int64_t y_member_stride() const { return M * (C + F) * HW; }
  // offsets of (sample n, channel ch, pixel p) in x and in y
  FASTGAN_HD int64_t x_at(int64_t n, int64_t ch, int64_t p) const {
    return n * C * HW + (cl ? p * C + ch : ch * HW + p);
  }
  FASTGAN_HD int64_t y_at(int64_t n, int64_t ch, int64_t p) const {
    return n * (C + F) * HW + (cl ? p * (C + F) + ch : ch * HW + p);
  }
  // offset in y of statistic channel C+f at pixel p of sample n
  FASTGAN_HD int64_t y_stat(int64_t n, int64_t f, int64_t p) const { return y_at(n, C + f, p); }
};

inline MbstdGeom mbstd_geom(int64_t N, int64_t C, int64_t HW, int64_t G, int64_t F, bool cl) {
  return MbstdGeom{N, C, HW, G, F, N / G, C / F, cl};
}

template <class A> FASTGAN_HD A mbstd_sd(A sq_dev_sum, A inv_g, A eps) { return sqrt(sq_dev_sum * inv_g + eps); }

template <class A> FASTGAN_HD A mbstd_grad_elem(A dy, A x, A mu, A inv_sd, A coef) {
  return dy + coef * (x - mu) * inv_sd;
}

}  // namespace fastgan
