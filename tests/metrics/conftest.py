"""The metrics tests run single-threaded (torch and BLAS), restored afterwards: their matrices
are small, and on a shared 2-core machine a 2-thread pool whose second thread is descheduled
makes small ops 10-40x slower."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limits = None
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()
        torch.set_num_threads(before)
