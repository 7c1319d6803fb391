"""The distributed half of test_ddp.py (a separate module so spawned processes can import it)."""
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from nnslim.distillation import DistillConfig, distill

from distill_testutils import blobs, mlp

# 96 samples, global batch 16: every rank gets equal, full batches, so a 2-rank run and a
# single-process run average exactly the same per-sample gradients.
CONFIG = DistillConfig(epochs=2, batch_size=16, lr=5e-3, shuffle=True, hints={"0": "0"}, hint_weight=0.1,
                       seed=7, progress=False, keep_best=True)


class Recording(Dataset):
    """Counts the samples this process reads, to prove each rank saw only its shard."""

    def __init__(self, data):
        self.data, self.reads = data, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        return self.data[i]


def problem():
    teacher, student = mlp([8, 32, 4], seed=0), mlp([8, 16, 4], seed=1)
    return teacher, student, blobs(n=96), blobs(n=64, seed=1)


def run_all():
    """Distil twice: from a shuffled Dataset, and from an unshuffled DataLoader."""
    results = []
    teacher, student, train, val = problem()
    train = Recording(train)
    results.append(distill(teacher, student, train, CONFIG, val_data=val) + (train.reads,))
    teacher, student, train, val = problem()
    loader = DataLoader(Recording(train), batch_size=16, shuffle=False)
    results.append(distill(teacher, student, loader, CONFIG.replace(hints=None), val_data=val)
                   + (loader.dataset.reads,))
    return [(s.state_dict(), h.train_loss, h.val_score, reads) for s, h, reads in results]


def worker(rank, world_size, init_file, out_path):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        results = run_all()
        if rank == 0:
            torch.save(results, out_path)
        # BatchNorm statistics differ per shard; every rank must still return rank 0's model.
        bn_student = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16),
                                         torch.nn.ReLU(), torch.nn.Linear(16, 4))
        distill(problem()[0], bn_student, blobs(n=96), CONFIG.replace(hints=None, keep_best=False))
        torch.save(bn_student.state_dict(), f"{out_path}.bn{rank}")
    finally:
        # Tear down together: a rank destroying its gloo group while the other still has traffic in
        # flight intermittently aborted at exit ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()
