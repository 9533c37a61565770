"""The six losses written in torch ops, in float64: the references the tests hold segloss to.

They follow section 7 of segloss.h (SEMANTICS) formula by formula, and differentiate through
autograd; nothing here calls segloss. Inputs: logits (N, C, *spatial), labels (N, *spatial).
"""
import torch
import torch.nn.functional as F

DEFAULTS = dict(loss_type="ce", focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, dice_smooth=1.0,
                tversky_alpha=0.7, tversky_beta=0.3, use_class_weighting=None, class_weights=None,
                ignore_index=-100, include_background=True, per_sample=False, reduction="mean")


def f32(v):
    """A parameter as the C struct holds it (float32), in double."""
    return float(torch.tensor(float(v), dtype=torch.float32))


def _flat(z, y):
    n, c = z.shape[:2]
    return z.reshape(n, c, -1), y.reshape(n, -1).long()


def auto_weights(y, c, ignore_index):
    """w[c] = |V| / n_c, stored as float32 (0 for an absent class)."""
    v = y[y != ignore_index].long()
    counts = torch.bincount(v, minlength=c).double()
    w = torch.where(counts > 0, v.numel() / counts.clamp(min=1), torch.zeros_like(counts))
    return w.float().double()


def class_weight_vector(cfg, y, c):
    if cfg["class_weights"] is not None:
        return torch.tensor(cfg["class_weights"], dtype=torch.float32).double()
    use = cfg["use_class_weighting"]
    if use is None:
        use = cfg["loss_type"] == "weighted_ce"
    if use:
        return auto_weights(y, c, cfg["ignore_index"])
    return torch.ones(c, dtype=torch.float64)


def ce_family(z, y, cfg, gamma):
    """sum_V -w[y] (1 - p_y)^gamma log p_y / sum_V w[y] (mean) or the plain sum (sum)."""
    c = z.shape[1]
    zf, yf = _flat(z, y)
    w = class_weight_vector(cfg, y, c)
    valid = yf != cfg["ignore_index"]
    ysafe = torch.where(valid, yf, torch.zeros_like(yf))
    logp = torch.log_softmax(zf, dim=1).gather(1, ysafe.unsqueeze(1)).squeeze(1)  # (N, S)
    wy = w[ysafe] * valid
    if gamma == 0.0:
        term = -logp
    else:
        term = -(1.0 - logp.exp()) ** gamma * logp
    total = (wy * term).sum()
    if cfg["reduction"] == "sum":
        return total
    den = wy.sum()
    return total / den if den > 0 else total * 0.0


def overlap(z, y, cfg, tversky):
    """1 - mean over (groups, K) of the Dice (or Tversky) ratio; a ratio with denominator 0
    counts as 1."""
    c = z.shape[1]
    zf, yf = _flat(z, y)
    valid = (yf != cfg["ignore_index"]).double().unsqueeze(1)  # (N, 1, S)
    p = torch.softmax(zf, dim=1) * valid
    ysafe = torch.where(yf != cfg["ignore_index"], yf, torch.zeros_like(yf))
    g = F.one_hot(ysafe, c).permute(0, 2, 1).double() * valid  # (N, C, S)
    dims = (2,) if cfg["per_sample"] else (0, 2)
    inter = (p * g).sum(dims)
    psum = p.sum(dims)
    gsum = g.sum(dims)
    s = f32(cfg["dice_smooth"])
    if tversky:
        a, b = f32(cfg["tversky_alpha"]), f32(cfg["tversky_beta"])
        num = inter + s
        den = inter + a * (psum - inter) + b * (gsum - inter) + s
    else:
        num = 2 * inter + s
        den = psum + gsum + s
    ratio = torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.ones_like(den))
    if not cfg["include_background"]:
        ratio = ratio[..., 1:]
    one_minus = 1.0 - ratio
    if cfg["reduction"] == "sum":
        return one_minus.sum()
    return one_minus.mean()


def loss(z, y, **kwargs):
    """The configured loss of float64 logits z, labels y."""
    cfg = dict(DEFAULTS)
    aliases = {"gamma": "focal_gamma", "smooth": "dice_smooth", "alpha": "tversky_alpha", "beta": "tversky_beta"}
    for k, v in kwargs.items():
        cfg[aliases.get(k, k)] = v
    t = cfg["loss_type"]
    if (y != cfg["ignore_index"]).sum() == 0:
        return z.sum() * 0.0
    gamma = f32(cfg["focal_gamma"])
    if t in ("ce", "weighted_ce"):
        return ce_family(z, y, cfg, 0.0)
    if t == "focal":
        return ce_family(z, y, cfg, gamma)
    if t == "dice":
        return overlap(z, y, cfg, False)
    if t == "tversky":
        return overlap(z, y, cfg, True)
    if t == "focal_dice":
        return f32(cfg["focal_weight"]) * ce_family(z, y, cfg, gamma) + \
            f32(cfg["dice_weight"]) * overlap(z, y, cfg, False)
    raise ValueError(t)


def loss_and_grad(logits, labels, **kwargs):
    """(loss, dL/dlogits) in float64 from float32 logits (converted exactly)."""
    z = logits.detach().double().requires_grad_()
    value = loss(z, labels, **kwargs)
    (g,) = torch.autograd.grad(value, z)
    return float(value), g
