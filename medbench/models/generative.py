"""Conditional generative models of a scalar outcome given covariates (chapter 05: warfarin doses).

- :class:`ConditionalVAE`: encoder q(z | y, c), decoder p(y | z, c) with a Gaussian output (mean
  and log-variance), the reparameterisation trick and :func:`cvae_loss` (negative ELBO:
  Gaussian NLL + beta KL). Kingma & Welling 2014; Sohn, Lee & Yan 2015 (conditional VAE).
- :class:`ConditionalGenerator` and :class:`Discriminator`: a conditional GAN (Goodfellow et al.
  2014; Mirza & Osindero 2014); the generator maps noise and covariates to an outcome.
  The same generator class, trained by MSE toward real outcomes, is the course source's "naive
  generator" (see :func:`medbench.tasks.dosing.train_naive_generator`).
- :class:`TabularVAE`: whole synthetic patient rows (categorical + continuous columns).
- :class:`DCGANGenerator` / :class:`DCGANDiscriminator`: a class-conditional DCGAN for 32 px image
  patches (GAN augmentation of scarce malignant patches).

Shapes: covariates ``c`` are ``(B, C)``, outcomes ``y`` are ``(B, 1)``, noise/latent ``(B, Z)``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConditionalVAE", "cvae_loss", "ConditionalGenerator", "Discriminator", "TabularVAE", "DCGANGenerator",
           "DCGANDiscriminator", "ddpm_unet"]


def _mlp(n_in: int, hidden: int, n_out: int, act=nn.SiLU) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, n_out))


class ConditionalVAE(nn.Module):
    """A conditional VAE for ``p(y | c)``.

    Args:
        n_cond: covariates C. latent: latent size Z. hidden: units per hidden layer.
        n_out: outcome size (1 for a dose).
    """

    def __init__(self, n_cond: int, latent: int = 2, hidden: int = 64, n_out: int = 1):
        super().__init__()
        self.latent, self.n_out = latent, n_out
        self.encoder = _mlp(n_cond + n_out, hidden, 2 * latent)
        self.decoder = _mlp(n_cond + latent, hidden, 2 * n_out)

    def encode(self, c: torch.Tensor, y: torch.Tensor):
        """``(mu, logvar)`` of q(z | y, c), each ``(B, Z)``."""
        return self.encoder(torch.cat([c, y], 1)).chunk(2, dim=1)

    def decode(self, c: torch.Tensor, z: torch.Tensor):
        """``(y_mean, y_logvar)`` of p(y | z, c), each ``(B, n_out)``; the log-variance is clamped."""
        mean, logvar = self.decoder(torch.cat([c, z], 1)).chunk(2, dim=1)
        return mean, logvar.clamp(-7.0, 4.0)

    def forward(self, c: torch.Tensor, y: torch.Tensor):
        """Training pass: ``(y_mean, y_logvar, z_mu, z_logvar)``."""
        mu, logvar = self.encode(c, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterisation
        y_mean, y_logvar = self.decode(c, z)
        return y_mean, y_logvar, mu, logvar

    @torch.no_grad()
    def sample(self, c: torch.Tensor, n: int) -> torch.Tensor:
        """``(B, n)`` draws of y: z ~ N(0, I), then y ~ p(y | z, c)."""
        b = c.shape[0]
        cc = c.repeat_interleave(n, 0)
        mean, logvar = self.decode(cc, torch.randn(b * n, self.latent))
        y = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return y[:, 0].reshape(b, n)


def cvae_loss(outputs, y: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO per patient: Gaussian NLL of ``y`` + ``beta`` KL(q || N(0, I)).

    Args:
        outputs: ``ConditionalVAE.forward``'s tuple. y: ``(B, n_out)`` targets.
    """
    y_mean, y_logvar, mu, logvar = outputs
    nll = 0.5 * (y_logvar + (y - y_mean) ** 2 / y_logvar.exp()).sum(1)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
    return (nll + beta * kl).mean()


class ConditionalGenerator(nn.Module):
    """G(z, c) -> y: noise ``(B, Z)`` and covariates ``(B, C)`` to an outcome ``(B, n_out)``."""

    def __init__(self, n_cond: int, noise: int = 4, hidden: int = 64, n_out: int = 1):
        super().__init__()
        self.noise = noise
        self.net = _mlp(n_cond + noise, hidden, n_out)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, c], 1))

    @torch.no_grad()
    def sample(self, c: torch.Tensor, n: int) -> torch.Tensor:
        """``(B, n)`` draws of y for each row of ``c``."""
        b = c.shape[0]
        y = self(torch.randn(b * n, self.noise), c.repeat_interleave(n, 0))
        return y[:, 0].reshape(b, n)


class Discriminator(nn.Module):
    """D(y, c) -> logit ``(B, 1)`` that ``(y, c)`` is a real pair (LeakyReLU, as in DCGAN practice)."""

    def __init__(self, n_cond: int, hidden: int = 64, n_out: int = 1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_cond + n_out, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([y, c], 1))


class TabularVAE(nn.Module):
    """A VAE over whole mixed-type rows: categorical columns (softmax) and continuous ones (Gaussian).

    A simplified TVAE (Xu et al. 2019, *NeurIPS*): one-hot categorical groups and standardised
    continuous columns in, per-group logits and per-column Gaussian means/log-variances out.

    Args:
        cat_sizes: number of levels of each categorical column.
        n_cont: number of continuous columns.
        latent, hidden: latent size and units per hidden layer.
    """

    def __init__(self, cat_sizes, n_cont: int, latent: int = 8, hidden: int = 128):
        super().__init__()
        self.cat_sizes, self.n_cont, self.latent = list(cat_sizes), int(n_cont), latent
        n_in = sum(self.cat_sizes) + self.n_cont
        self.encoder = _mlp(n_in, hidden, 2 * latent)
        self.decoder = _mlp(latent, hidden, sum(self.cat_sizes) + 2 * self.n_cont)

    def _split(self, out: torch.Tensor):
        k = sum(self.cat_sizes)
        logits = list(out[:, :k].split(self.cat_sizes, dim=1))
        mean, logvar = out[:, k:k + self.n_cont], out[:, k + self.n_cont:].clamp(-7.0, 4.0)
        return logits, mean, logvar

    def forward(self, x: torch.Tensor):
        """``x (B, sum(cat_sizes) + n_cont)`` -> ``(logits list, mean, logvar, z_mu, z_logvar)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return (*self._split(self.decoder(z)), mu, logvar)

    def loss(self, outputs, x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """Negative ELBO: cross-entropy per categorical column + Gaussian NLL + beta KL."""
        logits, mean, logvar, mu, zlv = outputs
        k = sum(self.cat_sizes)
        codes = x[:, :k].split(self.cat_sizes, dim=1)
        ce = sum(nn.functional.cross_entropy(lg, oh.argmax(1), reduction="none") for lg, oh in zip(logits, codes))
        xc = x[:, k:]
        nll = 0.5 * (logvar + (xc - mean) ** 2 / logvar.exp()).sum(1)
        kl = -0.5 * (1 + zlv - mu ** 2 - zlv.exp()).sum(1)
        return (ce + nll + beta * kl).mean()

    @torch.no_grad()
    def sample(self, n: int):
        """``(codes (n, n_cat) int64, continuous (n, n_cont))`` drawn from the prior."""
        logits, mean, logvar = self._split(self.decoder(torch.randn(n, self.latent)))
        codes = torch.stack([torch.distributions.Categorical(logits=lg).sample() for lg in logits], 1)
        return codes, mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)


class DCGANGenerator(nn.Module):
    """Class-conditional DCGAN generator (Radford et al. 2016): noise + class -> ``(B, 1, 32, 32)`` in [0, 1].

    The class enters as a learned embedding concatenated to the noise. A hand-written DCGAN rather
    than a MONAI network: MONAI ships discriminators (``PatchDiscriminator``) but no small
    conditional DCGAN generator, and 32 px patches need only three up-sampling blocks.

    Args:
        noise: noise size Z. n_classes: classes. width: channels of the first feature map.
    """

    def __init__(self, noise: int = 64, n_classes: int = 2, width: int = 64):
        super().__init__()
        self.noise, self.n_classes = noise, n_classes
        self.embed = nn.Embedding(n_classes, noise)
        self.fc = nn.Sequential(nn.Linear(2 * noise, width * 4 * 4 * 2), nn.BatchNorm1d(width * 4 * 4 * 2), nn.ReLU())
        self.width = width

        def up(c_in, c_out):
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.net = nn.Sequential(*up(2 * width, width), *up(width, width // 2),
                                 nn.ConvTranspose2d(width // 2, 1, 4, 2, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(-1, 2 * self.width, 4, 4)
        return self.net(h)

    @torch.no_grad()
    def sample(self, y: torch.Tensor) -> torch.Tensor:
        """One image per class label in ``y (B,)`` -> ``(B, 1, 32, 32)``."""
        return self(torch.randn(len(y), self.noise), y)


class DCGANDiscriminator(nn.Module):
    """Class-conditional DCGAN discriminator: ``(B, 1, 32, 32)`` + class -> logit ``(B, 1)``.

    Strided convolutions with LeakyReLU, and a projection of the class embedding onto the features
    (Miyato & Koyama 2018, cGANs with projection discriminator).
    """

    def __init__(self, n_classes: int = 2, width: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width // 2, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
        n_feat = 2 * width * 4 * 4
        self.out = nn.Linear(n_feat, 1)
        self.embed = nn.Embedding(n_classes, n_feat)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.out(h) + (self.embed(y) * h).sum(1, keepdim=True)


def ddpm_unet() -> nn.Module:
    """MONAI's ``DiffusionModelUNet`` sized for ``(N, 1, 32, 32)`` patches: predicts the added noise.

    Channels (32, 64, 64), attention at the lowest level only, one residual block per level.
    """
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(32, 64, 64),
                              attention_levels=(False, False, True), num_res_blocks=1, num_head_channels=32)
