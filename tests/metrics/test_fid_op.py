"""The registered FID trace-sqrt op `fastgan::fid_trace_sqrt`: against scipy's sqrtm (an independent
formula), opcheck, fake impl, torch.compile; on a GPU against the CPU float64 result (marked cuda)."""
import numpy as np
import pytest
import scipy.linalg as sla
import torch

from fastgan.metrics.fid import fid_trace_sqrt, frechet_distance


def _covs(d, n1, n2, seed, device="cpu", dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n1, d, dtype=torch.float64, generator=g) * torch.linspace(0.2, 2.0, d, dtype=torch.float64)
    b = torch.randn(n2, d, dtype=torch.float64, generator=g) + 0.3 * a[:n2] if n2 <= n1 else None
    b = b if b is not None else torch.randn(n2, d, dtype=torch.float64, generator=g)
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    return s1.to(device, dtype), s2.to(device, dtype)


def _scipy(s1, s2):
    return float(np.trace(sla.sqrtm(s1.double().cpu().numpy() @ s2.double().cpu().numpy())).real)


@pytest.mark.parametrize("d,n1,n2", [(7, 40, 30), (33, 200, 150), (64, 500, 80)])
def test_matches_scipy_sqrtm(d, n1, n2):
    s1, s2 = _covs(d, n1, n2, d)
    t = fid_trace_sqrt(s1, s2)
    assert t.dtype == torch.float64 and t.shape == () and t.device.type == "cpu"
    assert abs(float(t) - _scipy(s1, s2)) <= 1e-9 * abs(_scipy(s1, s2))


def test_float32_inputs_are_used_in_float64():
    s1, s2 = _covs(16, 100, 90, 1)
    t32 = fid_trace_sqrt(s1.float(), s2.float())
    assert abs(float(t32) - _scipy(s1.float(), s2.float())) <= 1e-9 * _scipy(s1, s2)


def test_opcheck_fake_and_compile():
    s1, s2 = _covs(12, 60, 50, 2)
    torch.library.opcheck(torch.ops.fastgan.fid_trace_sqrt.default, (s1, s2))
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        f = fid_trace_sqrt(torch.empty(12, 12, dtype=torch.float64), torch.empty(12, 12, dtype=torch.float64))
        assert f.shape == () and f.dtype == torch.float64

    def fd(s1, s2):
        return s1.diagonal().sum() + s2.diagonal().sum() - 2 * fid_trace_sqrt(s1, s2)

    torch._dynamo.reset()
    got = torch.compile(fd, fullgraph=True, backend="inductor")(s1, s2)
    assert abs(float(got) - float(fd(s1, s2))) <= 1e-12 * float(s1.diagonal().sum())


@pytest.mark.parametrize("bad,err,match", [
    (lambda s: s.numpy(), TypeError, "sigma1 must be a torch.Tensor"),
    (lambda s: s[:, :-1], ValueError, "square"),
    (lambda s: s.long(), TypeError, "floating-point"),
])
def test_bad_input(bad, err, match):
    s1, s2 = _covs(5, 30, 20, 3)
    with pytest.raises(err, match=match):
        fid_trace_sqrt(bad(s1), s2)
    with pytest.raises(ValueError, match="same size"):
        fid_trace_sqrt(s1, s2[:4, :4])


@pytest.mark.cuda
@pytest.mark.parametrize("d,n1,n2", [(64, 500, 400), (512, 2000, 1500), (256, 100, 300)])
def test_gpu_matches_cpu_float64(d, n1, n2):
    """On the GPU (torch.linalg, float64) against the CPU LAPACK path; the last case has a singular Σ1."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU (torch.cuda.is_available() is False)")
    s1, s2 = _covs(d, n1, n2, d)
    cpu = fid_trace_sqrt(s1, s2)
    gpu = fid_trace_sqrt(s1.cuda(), s2.cuda())
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float64
    assert abs(float(gpu) - float(cpu)) <= 1e-9 * abs(float(cpu))
    torch.library.opcheck(torch.ops.fastgan.fid_trace_sqrt.default, (s1.cuda(), s2.cuda()))
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    f_cpu = frechet_distance(mu1, s1, mu2, s2)
    f_gpu = frechet_distance(mu1.cuda(), s1.cuda(), mu2.cuda(), s2.cuda())
    assert f_gpu.conventions["backend"] == "torch"
    assert abs(float(f_gpu) - float(f_cpu)) <= 1e-8 * abs(float(f_cpu))
