import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import pytest

import distill_ddp_worker

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")


def test_two_cpu_ranks_match_a_single_process_run(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.spawn(distill_ddp_worker.worker, args=(2, str(tmp_path / "store"), str(out)), nprocs=2, join=True)
    distributed = torch.load(out)
    single = distill_ddp_worker.run_all()
    initial = distill_ddp_worker.problem()[1].state_dict()
    for (d_state, d_loss, d_val, d_reads), (s_state, s_loss, s_val, s_reads) in zip(distributed, single):
        assert (d_reads, s_reads) == (96, 192)  # 2 epochs; rank 0 read only its half of the data
        for k in s_state:
            assert not torch.allclose(s_state[k], initial[k], atol=1e-3), k  # training moved it
            assert torch.allclose(d_state[k], s_state[k], atol=1e-4), k
        assert d_loss == pytest.approx(s_loss, abs=1e-4)
        assert d_val == s_val
    bn = [torch.load(f"{out}.bn{rank}") for rank in range(2)]
    for k in bn[0]:
        assert torch.equal(bn[0][k], bn[1][k]), k
