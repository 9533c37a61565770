"""segloss.torch.functional: the losses as functions, in the style of torch.nn.functional.

    import segloss.torch.functional as SF
    loss = SF.focal_loss(logits, target, focal_gamma=2.0, use_class_weighting=True)
    loss = SF.seg_loss(logits, target, loss_type='tversky', tversky_alpha=0.7, tversky_beta=0.3)

Each takes the loss guide's keywords (see segloss.torch.SegLoss) and returns a 0-dim float32
tensor; the gradient comes from the same C call (see segloss.torch). Configurations are checked
once per distinct set of keywords and cached.
"""
import functools

from .._config import Config
from . import seg_loss_with_config

__all__ = ["seg_loss", "ce_loss", "cross_entropy", "weighted_ce_loss", "focal_loss", "dice_loss",
           "focal_dice_loss", "tversky_loss"]


@functools.lru_cache(maxsize=64)
def _cached(items):
    return Config(**dict(items))


def _config(kwargs):
    try:
        key = tuple(sorted(kwargs.items()))
        hash(key)
    except TypeError:  # class_weights as a list, array or tensor: not cached
        return Config(**kwargs)
    return _cached(key)


def seg_loss(logits, target, loss_type="ce", **kwargs):
    """The loss loss_type ('ce', 'weighted_ce', 'focal', 'dice', 'focal_dice', 'tversky') with
    the guide's keywords; a 0-dim tensor."""
    return seg_loss_with_config(_config(dict(kwargs, loss_type=loss_type)), logits, target)[0]


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
