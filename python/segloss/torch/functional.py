"""segloss.torch.functional: the losses as functions, in the style of torch.nn.functional.

    import segloss.torch.functional as SF
    loss = SF.focal_loss(logits, target, focal_gamma=2.0, use_class_weighting=True)
    loss = SF.seg_loss(logits, target, loss_type='tversky', tversky_alpha=0.7, tversky_beta=0.3)

Each takes the loss guide's keywords (see segloss.torch.SegLoss) and weight_map= (float32,
(N, *spatial)), and returns a 0-dim float32 tensor (with reduction='none', the unreduced
terms); the gradient comes from the same C call (see segloss.torch). Configurations are
checked once per distinct set of keywords and cached.

binary_cross_entropy_with_logits and sigmoid_focal_loss take PyTorch's and torchvision's
argument names and defaults; generalized_dice_loss is MONAI's GeneralizedDiceLoss.
"""
import functools

from .._config import Config
from . import seg_loss_with_config

__all__ = ["seg_loss", "ce_loss", "cross_entropy", "weighted_ce_loss", "focal_loss", "dice_loss",
           "focal_dice_loss", "tversky_loss", "generalized_dice_loss", "binary_cross_entropy_with_logits",
           "sigmoid_focal_loss"]


@functools.lru_cache(maxsize=64)
def _cached(items):
    return Config(**dict(items))


def _config(kwargs):
    # weights given as a tensor, array or list are keyed by their values: a tensor hashes by
    # identity, and one changed in place must not find the configuration of its old values
    items = []
    for k, v in kwargs.items():
        if k in ("class_weights", "pos_weight") and v is not None and not isinstance(v, (str, bytes)):
            if hasattr(v, "detach"):
                v = v.detach().cpu()
            if hasattr(v, "tolist"):
                v = v.tolist()
            if isinstance(v, list):
                v = tuple(v)
        items.append((k, v))
    try:
        key = tuple(sorted(items))
        hash(key)
    except TypeError:  # something else unhashable: not cached
        return Config(**kwargs)
    return _cached(key)


def seg_loss(logits, target, loss_type="ce", weight_map=None, **kwargs):
    """The loss loss_type ('ce', 'weighted_ce', 'focal', 'dice', 'focal_dice', 'tversky',
    'generalized_dice') with the guide's keywords; a 0-dim tensor (reduction='none': the
    unreduced terms). weight_map: float32 (N, *spatial), one weight per position, or None."""
    return seg_loss_with_config(_config(dict(kwargs, loss_type=loss_type)), logits, target,
                                weight_map=weight_map)[0]


def ce_loss(logits, target, **kwargs):
    """Cross entropy; F.cross_entropy(logits, target, weight=class_weights,
    ignore_index=ignore_index) computes the same loss."""
    return seg_loss(logits, target, "ce", **kwargs)


cross_entropy = ce_loss


def weighted_ce_loss(logits, target, **kwargs):
    """Cross entropy with class weights: automatic inverse-frequency weights of the batch
    (use_class_weighting defaults to True here) or class_weights."""
    return seg_loss(logits, target, "weighted_ce", **kwargs)


def focal_loss(logits, target, **kwargs):
    """Focal loss (Lin et al. 2017), focal_gamma (default 2); class_weights or
    use_class_weighting for alpha balancing."""
    return seg_loss(logits, target, "focal", **kwargs)


def dice_loss(logits, target, **kwargs):
    """Soft Dice loss over softmax probabilities, dice_smooth (default 1); batch Dice unless
    per_sample=True; include_background (default True)."""
    return seg_loss(logits, target, "dice", **kwargs)


def focal_dice_loss(logits, target, **kwargs):
    """focal_weight * focal + dice_weight * Dice (defaults 0.5 and 0.5, focal_gamma 2,
    dice_smooth 1); class weights apply to the focal term."""
    return seg_loss(logits, target, "focal_dice", **kwargs)


def tversky_loss(logits, target, **kwargs):
    """Tversky loss: tversky_alpha on false positives, tversky_beta on false negatives
    (defaults 0.7 and 0.3), dice_smooth (default 1)."""
    return seg_loss(logits, target, "tversky", **kwargs)


def generalized_dice_loss(logits, target, **kwargs):
    """Generalized Dice (Sudre et al. 2017): class weights 1/G_c^2 from the labels, dice_smooth
    in numerator and denominator; MONAI's GeneralizedDiceLoss(w_type='square', smooth_nr=s,
    smooth_dr=s, batch=not per_sample). activation='sigmoid' for MONAI's sigmoid=True."""
    return seg_loss(logits, target, "generalized_dice", **kwargs)


def binary_cross_entropy_with_logits(input, target, pos_weight=None, reduction="mean", **kwargs):
    """F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight.view(1, C, 1, 1),
    reduction=reduction) for input (N, C, *spatial) and target of that shape (float32 in [0, 1],
    or uint8/bool) or class indices (one-vs-rest; ignore_index applies): the sigmoid 'ce'.
    pos_weight: C numbers (a sequence, array or tensor) or None. PyTorch's elementwise weight=
    has no counterpart; weight_map= weights positions."""
    return seg_loss(input, target, "ce", activation="sigmoid", pos_weight=pos_weight, reduction=reduction, **kwargs)


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none", **kwargs):
    """torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction) for inputs
    (N, C, *spatial): alpha None or < 0 for no alpha balancing; reduction 'none' (torchvision's
    default), 'mean' or 'sum'."""
    return seg_loss(inputs, targets, "focal", activation="sigmoid", focal_alpha=alpha, focal_gamma=gamma,
                    reduction=reduction, **kwargs)
