"""examples/ddp_dice.py -- batch Dice of one global batch across torch.distributed processes.

Each process holds a slice of the batch (whole samples), accumulates its statistics with the
two-phase API, the processes exchange them, each finishes the loss of the whole batch and
back-propagates its own slice:

    st = segloss.Stats(N, C, loss_type='dice')
    segloss.accumulate(st, logits_k, labels_k, first_sample=k0)      # this process's slice
    (sum st.sum over the processes)
    loss = segloss.finish(st)                                         # of the whole batch
    grad_k = segloss.backward(st, logits_k, labels_k, first_sample=k0)

The statistics are sums, so dist.all_reduce(SUM) would do; but no backend promises the order
in which it adds doubles, so the last bits could change with the world size or the
algorithm. Here every process gathers the others' statistics (dist.all_gather) and adds them
in rank order: every process gets the same bits on every run.

    python3 examples/ddp_dice.py [world_size]     # 2 by default: gloo on 127.0.0.1

It spawns the processes itself (torch.multiprocessing.spawn) and compares the result with one
process on the whole batch (segloss.compute): the loss within 1e-12 relative and every gradient
entry within 1e-6 of the largest (a double sum added per process differs from one added
chunk by chunk in its last bits; the Dice coefficients are rounded to float), and bit for bit
with one process that adds the same slices in rank order. python/tests/test_ddp.py runs it.
"""
import os
import socket
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))  # the in-tree package (make python)
import segloss  # noqa: E402

N, C, H, W = 8, 4, 96, 96
CONFIG = dict(loss_type="dice", ignore_index=255)


def make_batch():
    """The same batch in every process: float32 logits N x C x H x W, uint8 labels (255 = ignore)."""
    g = torch.Generator().manual_seed(2024)
    logits = torch.randn(N, C, H, W, generator=g) * 2.0
    labels = torch.randint(0, C, (N, H, W), generator=g).to(torch.uint8)
    labels[torch.rand(N, H, W, generator=g) < 0.05] = 255
    return logits, labels


def slice_of(rank, world):
    first = N * rank // world
    return first, N * (rank + 1) // world - first


def dice_step(rank, world, logits, labels, gather):
    """The two phases for rank's slice; gather(mine) returns every rank's statistics, in rank order."""
    first, count = slice_of(rank, world)
    z = logits[first:first + count].numpy()
    y = labels[first:first + count].numpy()
    st = segloss.Stats(N, C, **CONFIG)
    segloss.accumulate(st, z, y, first_sample=first)
    total = np.zeros_like(st.sum)
    for part in gather(st.sum.copy()):  # rank order: the same bits everywhere
        total += part
    st.sum[:] = total
    loss = segloss.finish(st)
    grad = segloss.backward(st, z, y, first_sample=first)
    return float(loss), grad


def _worker(rank, world, port, out_dir):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)

    def gather(mine):
        t = torch.from_numpy(mine)
        parts = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(parts, t)
        return [p.numpy() for p in parts]

    logits, labels = make_batch()
    loss, grad = dice_step(rank, world, logits, labels, gather)
    np.savez(os.path.join(out_dir, "rank%d.npz" % rank), loss=np.float64(loss), grad=grad)
    dist.barrier()
    dist.destroy_process_group()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(world=2):
    """Spawn world processes; returns a dict of the comparisons with one process."""
    logits, labels = make_batch()
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_worker, args=(world, _free_port(), out_dir), nprocs=world, join=True)
        parts = [np.load(os.path.join(out_dir, "rank%d.npz" % r)) for r in range(world)]
        losses = [float(p["loss"]) for p in parts]
        grad = np.concatenate([p["grad"] for p in parts])
    # one process, the same slices, their statistics added in rank order
    same_slices = [dice_step(r, world, logits, labels,
                             lambda mine, r=r: [segloss_slice_stats(q, world, logits, labels) for q in range(world)])
                   for r in range(world)]
    loss1 = same_slices[0][0]
    grad1 = np.concatenate([g for _, g in same_slices])
    # one process, the whole batch
    whole_loss, whole_grad = segloss.compute(logits.numpy(), labels.numpy(), **CONFIG)
    whole_loss = float(whole_loss)
    return dict(
        world=world, losses=losses, whole_loss=whole_loss,
        bitwise=all(np.float64(l).tobytes() == np.float64(loss1).tobytes() for l in losses)
        and grad.tobytes() == grad1.tobytes(),
        loss_rel=abs(losses[0] - whole_loss) / abs(whole_loss),
        grad_rel=float(np.max(np.abs(grad.astype(np.float64) - whole_grad)) / np.max(np.abs(whole_grad))),
    )


def segloss_slice_stats(rank, world, logits, labels):
    """Rank's statistics alone (what it contributes to the gather)."""
    first, count = slice_of(rank, world)
    st = segloss.Stats(N, C, **CONFIG)
    segloss.accumulate(st, logits[first:first + count].numpy(), labels[first:first + count].numpy(),
                       first_sample=first)
    return st.sum.copy()


if __name__ == "__main__":
    r = run(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print("batch Dice over %d processes (gloo): %.17g; one process, whole batch: %.17g"
          % (r["world"], r["losses"][0], r["whole_loss"]))
    print("bit for bit as one process adding the same slices in rank order: %s" % ("yes" if r["bitwise"] else "NO"))
    print("against the whole batch: loss %.3g relative, gradient %.3g of its largest entry"
          % (r["loss_rel"], r["grad_rel"]))
    ok = r["bitwise"] and r["loss_rel"] <= 1e-12 and r["grad_rel"] <= 1e-6
    sys.exit(0 if ok else 1)
