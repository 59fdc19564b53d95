"""``icgan``: instance-conditioned GAN (Casanova et al., 2021) on the DCGAN backbone.

* **Instance features** e_i = f(x_i) / |f(x_i)| from a frozen feature network: by default the
  shipped digits classifier's 128-d penultimate layer (``fastgan.nn.digits``); any module
  ``images -> [N, F]`` (or ``-> (features, ...)``) through :meth:`ICGAN.with_features`.
* **Conditioning** h_i = (e_i - m) / |e_i - m| with m the mean of e over the training images
  (``center_h``, on by default; the mean is the buffer ``G.h_mean``, saved in checkpoints, so an
  image outside the data is conditioned the same way).  Post-ReLU features are non-negative: the
  digits features have a mean cosine similarity of 0.41 and |m| = 0.64, so without centring every
  h is mostly the same vector and G sees a near-constant input, from which its first layer makes
  a fixed image (docs/SMALLDATA.md: that collapsed G).
* **Neighbourhoods**: A_i holds the ``k`` nearest neighbours of x_i by cosine similarity
  (x_i itself included), computed exactly in row chunks: O(N^2 F) time, O(N chunk) memory,
  fine to some 10^5 images; beyond that an approximate index would be needed.
* **Stored instances**: ``num_instances`` of them, ``uniform`` (a random subset) or
  ``kmeans`` (the data point nearest to each k-means centre of the features, scikit-learn).
  Their features are a buffer ``G.bank`` (saved in checkpoints), so a generator loaded
  from a checkpoint samples around its instances.
* **Training**: a batch draws stored instances i uniformly and, for each, a real image
  uniformly from A_i; G(z, h_i) and D(x, h_i).  G's input is [z, W_e h]; D is DCGAN's
  with a projection head: D(x, h) = w^T phi(x) + <W_p h, phi(x)>.
* **Instance swapping**: :func:`generate_around` generates around any image (in the data
  or not) from its features (``fastgan generate --ckpt RUN --instance IMAGE``).
* **StyleGAN2 backbone** (``icgan-stylegan2``): h joins the mapping input (StyleGAN2's
  conditional mapping embeds it and concatenates it to the normalised z) and D projects onto
  the mapped h; every StyleGAN2 option applies.
* **Class-conditional variant** (``classes`` > 0): h = [features, one-hot y] with y the class of
  the image drawn from the neighbourhood, so a class can be swapped at inference.

Every option of ``dcgan`` applies (loss, augmentation, fine-tuning ...).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import data as fdata
from ..data import save_grid
from ..nn.digits import DigitsFeatures
from .dcgan import DCGAN, DCGANRecipe, Discriminator, Generator
from .stylegan2 import StyleGAN2, StyleGAN2Recipe

__all__ = ["ICGANRecipe", "ICGAN", "ICStyleGAN2Recipe", "ICStyleGAN2", "ICGenerator", "ICDiscriminator",
           "instance_features", "center_features", "neighbourhoods",
           "select_instances", "InstanceDataset", "generate_around", "load_image", "SELECTIONS"]

SELECTIONS = ("kmeans", "uniform")


def instance_features(images: torch.Tensor, net: nn.Module, batch: int = 500) -> torch.Tensor:
    """L2-normalised features [N, F] of ``images`` (uint8 or float in [-1, 1]) under ``net``."""
    out = []
    with torch.no_grad():
        for chunk in images.split(batch):
            f = net(chunk)
            f = f[0] if isinstance(f, (tuple, list)) else f
            out.append(F.normalize(f.float().flatten(1), dim=1))
    return torch.cat(out)


def center_features(features: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The conditioning h = (e - mean) / |e - mean| of L2-normalised features e [N, F]; a zero
    ``mean`` leaves unit-norm e as they are."""
    if features.ndim != 2 or mean.shape != features.shape[1:]:
        raise ValueError(f"mean must have shape [{features.shape[-1]}] for features of shape "
                         f"{tuple(features.shape)}, got {tuple(mean.shape)}")
    return F.normalize(features - mean.to(features), dim=1)


def _zero_h_mean_if_missing(module, state_dict, prefix, *args):
    """Checkpoints from before ``center_h`` have no ``h_mean``: zeros (no centring) keep their h."""
    key = prefix + "h_mean"
    if key not in state_dict:
        state_dict[key] = torch.zeros_like(module.h_mean)


def add_h_mean(G: nn.Module, feat_dim: int) -> None:
    """Give G the buffer ``h_mean`` [feat_dim] (zeros; loaded from old checkpoints as zeros)."""
    G.register_buffer("h_mean", torch.zeros(feat_dim))
    G.register_load_state_dict_pre_hook(_zero_h_mean_if_missing)


def neighbourhoods(features: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Indices [N, k] of each row's k nearest rows by cosine similarity (itself first)."""
    n = features.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, {n}] (the data set has {n} items), got {k!r}")
    f = F.normalize(features.double(), dim=1)
    out = []
    for lo in range(0, n, chunk):
        sim = f[lo:lo + chunk] @ f.T
        rows = torch.arange(lo, min(lo + chunk, n))
        sim[torch.arange(len(rows)), rows] = float("inf")   # itself first, even with duplicates
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def select_instances(features: torch.Tensor, m: int, method: str = "kmeans", seed: int = 0) -> torch.Tensor:
    """Indices of ``m`` stored instances: a uniform random subset, or the data point nearest to
    each of ``m`` k-means centres (distinct points; scikit-learn's KMeans, n_init=1)."""
    n = features.shape[0]
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= n:
        raise ValueError(f"num_instances must be an int in [1, {n}] (the data set has {n} items), got {m!r}")
    if method == "uniform":
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:m].sort().values
    if method != "kmeans":
        raise ValueError(f"instance selection must be one of {SELECTIONS}, got {method!r}")
    from sklearn.cluster import KMeans   # heavy optional import, needed only for this selection
    x = features.double().numpy()
    centres = KMeans(n_clusters=m, n_init=1, random_state=seed).fit(x).cluster_centers_
    d = ((centres[:, None, :] - x[None, :, :]) ** 2).sum(-1) if n * m <= 10**7 else None
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for j in range(m):
        dj = d[j] if d is not None else ((x - centres[j]) ** 2).sum(1)
        dj = np.where(taken, np.inf, dj)
        i = int(dj.argmin())
        taken[i] = True
        chosen.append(i)
    return torch.tensor(sorted(chosen), dtype=torch.long)


class InstanceDataset:
    """A data set of stored instances: ``get_batch(idx)`` gives, per stored instance, a real image
    drawn uniformly from its neighbourhood, the conditioning h and the instance's index.  With
    ``classes`` > 0 (the class-conditional variant) h = [features, one-hot class of the drawn image]
    and the bank rows hold each instance's own class."""

    def __init__(self, base, features, neighbours, instances, labels=None, classes: int = 0):
        self.base, self.neighbours, self.instances = base, neighbours, instances
        self.features, self.classes = features.float(), int(classes)
        if self.classes:
            if labels is None:
                raise ValueError("the class-conditional IC-GAN (classes > 0) needs labelled data")
            labels = torch.as_tensor(labels).long()
            if labels.min() < 0 or labels.max() >= self.classes:
                raise ValueError(f"classes={self.classes}, but the data has labels in "
                                 f"[{int(labels.min())}, {int(labels.max())}]")
        self.labels = labels
        self.bank = self._h(instances, instances)
        self.shape = tuple(base.shape)
        self.num_classes = len(instances)          # "labels" are indices into the bank
        self.name = f"{getattr(base, 'name', 'data')}-instances"

    def __len__(self):
        return len(self.instances)

    def describe(self):
        return (f"{len(self.instances)} stored instances of {len(self.neighbours)} images, "
                f"{self.neighbours.shape[1]} neighbours each")

    def get_batch(self, idx):
        nb = self.neighbours[self.instances[idx]]
        pick = torch.randint(0, nb.shape[1], (len(idx),))
        chosen = nb[torch.arange(len(idx)), pick]
        images, _ = self.base.get_batch(chosen)
        return {"image": images, "h": self._h(self.instances[idx], chosen), "instance": idx.clone()}

    def _h(self, instances, class_of):
        h = self.features[instances]
        if not self.classes:
            return h
        return torch.cat([h, F.one_hot(self.labels[class_of], self.classes).float()], dim=1)


class ICGenerator(nn.Module):
    """G(z, h): DCGAN's generator on [z, W_e h]; integer h picks rows of the stored ``bank``.
    ``h_mean`` (buffer) is the feature mean that conditioning centres by (:func:`center_features`)."""

    def __init__(self, z_dim, feat_dim, embed_dim, num_instances, width, resolution, channels, classes=0):
        super().__init__()
        self.z_dim = z_dim
        self.register_buffer("bank", torch.zeros(num_instances, feat_dim))
        add_h_mean(self, feat_dim - classes)
        self.embed = nn.Linear(feat_dim, embed_dim)
        self.body = Generator(z_dim + embed_dim, width, resolution, channels)

    def forward(self, z, h):
        if not h.is_floating_point():
            h = self.bank[h.long()]
        return self.body(torch.cat([z, self.embed(h.to(z.dtype))], dim=1))


class ICDiscriminator(nn.Module):
    """D(x, h) = w^T phi(x) + <W_p h, phi(x)> with DCGAN's discriminator as phi and w.  W_p starts
    N(0, 0.02) as w does (DCGAN's init): nn.Linear's default (std 0.05 here) lets the random
    projection outweigh w from the first step, and D's h-term then collapses G."""

    def __init__(self, feat_dim, width, resolution, channels, norm):
        super().__init__()
        self.body = Discriminator(width, resolution, channels, norm)
        last = self.body.net[-2]
        self.project = nn.Linear(feat_dim, last.in_channels * last.kernel_size[0] * last.kernel_size[1], bias=False)
        nn.init.normal_(self.project.weight, 0.0, 0.02)

    def forward(self, x, h):
        phi = self.body.net[:-2](x)
        out = self.body.net[-2:](phi)
        return out + (self.project(h.to(phi.dtype)) * phi.flatten(1)).sum(1, keepdim=True)


@dataclasses.dataclass
class ICGANRecipe(DCGANRecipe):
    k: int = 50                       # neighbourhood size (the paper: 50; 5 on long-tail data)
    num_instances: int = 1000         # stored instances
    selection: str = "kmeans"         # kmeans | uniform
    embed_dim: int = 64               # size of W_e h in G's input
    features: str = "digits"          # the feature network: digits (or ICGAN.with_features(module))
    classes: int = 0                  # > 0: the class-conditional variant G(z, h, y) over this many classes
    center_h: bool = True             # h = normalise(features - their mean over the data)


class _Instances:
    """What both IC-GAN backbones share: the feature network, the data set of stored instances
    and neighbourhoods, the bank, and ``fastgan generate --instance``."""

    conditional = True
    feature_net: nn.Module | None = None      # set by with_features
    generate_modes = ("instance",)

    @classmethod
    def with_features(cls, module: nn.Module) -> type:
        """This family with ``module`` (images -> features) instead of the digits classifier."""
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        return type(cls.__name__, (cls,), {"feature_net": module.eval().requires_grad_(False)})

    @classmethod
    def features_module(cls, recipe) -> nn.Module:
        if cls.feature_net is not None:
            return cls.feature_net
        if recipe.features != "digits":
            raise ValueError(f"features must be 'digits' (or pass a module with {cls.__name__}.with_features), "
                             f"got {recipe.features!r}")
        return DigitsFeatures()

    @classmethod
    def make_dataset(cls, spec, recipe, **options):
        base = fdata.make_dataset(spec, **options)
        if len(base) == 0:
            raise ValueError(f"data set {spec!r} is empty")
        images, labels = base.get_batch(torch.arange(len(base)))
        feats = instance_features(images, cls.features_module(recipe))
        nbrs = neighbourhoods(feats, recipe.k)          # cosine k-NN of the features themselves
        inst = select_instances(feats, recipe.num_instances, recipe.selection)
        mean = feats.mean(0) if recipe.center_h else torch.zeros(feats.shape[1])
        ds = InstanceDataset(base, center_features(feats, mean), nbrs, inst, labels, recipe.classes)
        ds.h_mean = mean
        return ds

    def _init_features(self, recipe):
        self._bank = self._h_mean = None
        net = self.feature_net
        self.feat_dim = DigitsFeatures.feature_dim if net is None else getattr(net, "feature_dim", None)
        if recipe.classes < 0:
            raise ValueError(f"classes must be >= 0, got {recipe.classes}")
        if self.feat_dim is not None:
            self.feat_dim += recipe.classes   # h = [features, one-hot class]

    def make_loader(self, dataset, batch, *, seed, rank, world):
        bank = getattr(dataset, "bank", None)
        if bank is None:
            raise ValueError(f"{self.name} trains on the data set of its make_dataset (a name or path given to --data)")
        self._bank, self.feat_dim = bank, bank.shape[1]
        self._h_mean = getattr(dataset, "h_mean", None)
        return None

    def _store(self, G):
        """Copy the data's bank and feature mean into G's buffers."""
        if self._bank is not None:
            G.bank.copy_(self._bank)
        if self._h_mean is not None:
            G.h_mean.copy_(self._h_mean)

    def _check_feat_dim(self):
        if self.feat_dim is None:
            raise ValueError(f"{self.name}: the feature size is unknown; give the feature module a feature_dim "
                             f"attribute")

    def render(self, G, mode, out, *, instance=None, seeds=(), **options):
        """``instance``: a grid of the image file ``instance`` (first, as G sees its size) and
        ``len(seeds)`` samples around it (the seed list gives the count; the latents come from
        the first seed); the class-conditional variant takes the first of ``labels`` as its class."""
        if mode != "instance":
            return super().render(G, mode, out)
        if not instance or not isinstance(instance, str):
            raise ValueError("--instance needs an image file")
        image = load_image(instance, self.data.shape)
        n = max(len(seeds), 1)
        labels = options.get("labels") or None
        samples = generate_around(self, G, image, n=n, seed=int(seeds[0]) if len(seeds) else 0,
                                  labels=labels[:1] if labels else None)
        save_grid(torch.cat([image.to(samples.device), samples]).float().cpu(), out)
        return f"{n} samples around {instance} (the first image of the grid)"


class ICGAN(_Instances, DCGAN):
    name = "icgan"
    Recipe = ICGANRecipe
    description = "IC-GAN (Casanova et al.): G(z, h), D(x, h) on instance features and k-NN neighbourhoods"
    presets = {"cpu": {"resolution": 32, "width": 16, "z_dim": 64, "batch": 32, "k": 20, "num_instances": 200,
                       "embed_dim": 32}}

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        self._init_features(recipe)

    def networks(self):
        r, c = self.recipe, self.data.shape[0]
        self._check_feat_dim()
        G = ICGenerator(r.z_dim, self.feat_dim, r.embed_dim, r.num_instances, r.width, r.resolution, c, r.classes)
        self._store(G)
        return {"G": G, "D": ICDiscriminator(self.feat_dim, r.width, r.resolution, c, r.norm)}

    def prepare(self, batch, labels, device):
        images = batch["image"].to(device=device, dtype=torch.float32) * (2.0 / 255.0) - 1.0
        return images, batch["h"].to(device)


@dataclasses.dataclass
class ICStyleGAN2Recipe(StyleGAN2Recipe):
    k: int = 50                       # neighbourhood size
    num_instances: int = 1000         # stored instances
    selection: str = "kmeans"         # kmeans | uniform
    features: str = "digits"          # the feature network: digits (or ICStyleGAN2.with_features(module))
    classes: int = 0                  # > 0: h = [features, one-hot class] (the class-conditional variant)
    center_h: bool = True             # h = normalise(features - their mean over the data)


class ICStyleGAN2(_Instances, StyleGAN2):
    """IC-GAN on StyleGAN2: h joins the mapping input (StyleGAN2's conditional mapping embeds it
    and concatenates it to the normalised z) and D projects onto the mapped h (StyleGAN2-ADA's
    conditional D).  The bank is a buffer ``G.bank``; integer labels pick its rows."""

    name = "icgan-stylegan2"
    Recipe = ICStyleGAN2Recipe
    description = "IC-GAN on StyleGAN2: h into the mapping network, projection discriminator"
    presets = {"cpu": {"preset": "mnist32", "k": 20, "num_instances": 200}}
    finetune_methods = ("full", "freezed", "scale-shift", "l2sp")

    def __init__(self, recipe, data):
        super().__init__(recipe, data)
        self._init_features(recipe)
        self.conditional = True
        self.c_dim = self.feat_dim

    def make_loader(self, dataset, batch, *, seed, rank, world):
        out = super().make_loader(dataset, batch, seed=seed, rank=rank, world=world)
        self.c_dim = self.feat_dim
        return out

    def check_data(self, data):
        r = self.cfg.resolution
        if len(data.shape) != 3 or tuple(data.shape[1:]) != (r, r):
            raise ValueError(f"{self.name} needs Cx{r}x{r} images, the data has shape {tuple(data.shape)}")

    def networks(self):
        self._check_feat_dim()
        nets = super().networks()
        nets["G"].register_buffer("bank", torch.zeros(self.recipe.num_instances, self.feat_dim))
        add_h_mean(nets["G"], self.feat_dim - self.recipe.classes)
        self._store(nets["G"])
        return nets

    def onehot(self, labels, n, device, dtype=torch.float32):
        if labels is None or not labels.is_floating_point():
            raise ValueError(f"{self.name}: the conditioning h must be float features [N, {self.c_dim}]")
        return labels[:n].to(device=device, dtype=dtype)

    def generate(self, G, z, labels=None, trunc=None, noise_mode="const"):
        if labels is not None and not labels.is_floating_point():
            labels = G.bank[labels.long().to(G.bank.device)]
        return super().generate(G, z, labels, trunc, noise_mode)

    def prepare(self, batch, labels, device):
        images = batch["image"].to(device=device, dtype=torch.float32) * (2.0 / 255.0) - 1.0
        return images, batch["h"].to(device)


def load_image(path: str, shape) -> torch.Tensor:
    """An image file as a [1, C, H, W] tensor in [-1, 1] of the data's ``shape`` (C, H, W)."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"instance must be an image path, got {path!r}")
    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as e:
        raise ValueError(f"instance: cannot read image {path!r}: {e}") from None
    c, h, w = shape
    img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
    a = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).reshape(h, w, c).permute(2, 0, 1)
    return (a / 127.5 - 1).unsqueeze(0)


@torch.no_grad()
def generate_around(family, G: nn.Module, images: torch.Tensor, n: int = 8, seed: int = 0,
                    features: nn.Module | None = None, labels=None) -> torch.Tensor:
    """``n`` samples around each of ``images`` ([M, C, H, W], uint8 or float in [-1, 1]):
    [M * n, C, H, W], the samples of image j at rows j*n .. j*n+n-1.  The class-conditional
    variant takes one class per image in ``labels`` (any class: swapping the class of an instance)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [M, C, H, W], got shape {tuple(images.shape)}")
    dev = G.bank.device
    h = instance_features(images.cpu(), features or family.features_module(family.recipe))
    h = center_features(h, G.h_mean.cpu())
    k = family.recipe.classes
    if k:
        y = torch.as_tensor(labels if labels is not None else [], dtype=torch.long).reshape(-1)
        if len(y) != len(images) or y.min() < 0 or y.max() >= k:
            raise ValueError(f"labels: the class-conditional model needs one class in [0, {k}) per image")
        h = torch.cat([h, F.one_hot(y, k).float()], dim=1)
    elif labels is not None:
        raise ValueError("labels: this model is not class-conditional (classes = 0)")
    h = h.to(dev)
    z = torch.randn(len(images) * n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    return family.generate(G, z, h.repeat_interleave(n, dim=0))


FAMILIES = (ICGAN, ICStyleGAN2)
