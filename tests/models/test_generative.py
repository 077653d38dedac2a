from __future__ import annotations

import torch

from medbench.models.generative import ConditionalGenerator, ConditionalVAE, Discriminator, cvae_loss


def test_cvae_shapes_loss_and_sampling():
    torch.manual_seed(0)
    m = ConditionalVAE(17, latent=3, hidden=16)
    c, y = torch.randn(8, 17), torch.randn(8, 1)
    y_mean, y_logvar, mu, logvar = m(c, y)
    assert y_mean.shape == y_logvar.shape == (8, 1) and mu.shape == logvar.shape == (8, 3)
    loss = cvae_loss((y_mean, y_logvar, mu, logvar), y)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(p.grad is not None for p in m.parameters())
    assert m.sample(c, 5).shape == (8, 5)


def test_gan_shapes_and_generator_gradient_through_discriminator():
    G, D = ConditionalGenerator(17, noise=4, hidden=16), Discriminator(17, hidden=16)
    c = torch.randn(6, 17)
    fake = G(torch.randn(6, 4), c)
    assert fake.shape == (6, 1) and D(fake, c).shape == (6, 1)
    D(fake, c).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert G.sample(c, 7).shape == (6, 7)


def test_dcgan_shapes_and_class_conditioning():
    from medbench.models.generative import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    G, D = DCGANGenerator(noise=16, n_classes=2, width=16), DCGANDiscriminator(n_classes=2, width=16)
    y = torch.tensor([0, 1, 1, 0])
    x = G(torch.randn(4, 16), y)
    assert x.shape == (4, 1, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert D(x, y).shape == (4, 1)
    # the same noise with another class gives another image
    z = torch.randn(2, 16)
    G.eval()
    assert not torch.allclose(G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1])))
    assert G.sample(torch.tensor([1, 1, 1])).shape == (3, 1, 32, 32)
