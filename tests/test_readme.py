"""README's residual CNN example runs as written and matches the same network in PyTorch:
the same logits in eval mode after loading torch's state dict, and the same parameters and
running statistics after a few SGD steps in training mode."""
import os
import re

import numpy as np
import pytest
from conftest import assert_close

import fastconv
from fastconv import nn, optim

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _readme_example(heading):
    text = open(README).read()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _namespace():
    ns = {}
    exec(compile(_readme_example("### A residual CNN with batch normalization"), "README.md",
                 "exec"), ns)
    return ns


def _torch_model(torch):
    tnn = torch.nn

    class ResidualBlock(tnn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = tnn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(c)
            self.relu1 = tnn.ReLU()
            self.conv2 = tnn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(c)
            self.relu2 = tnn.ReLU()

        def forward(self, x):
            h = self.relu1(self.bn1(self.conv1(x)))
            return self.relu2(self.bn2(self.conv2(h)) + x)

    class SmallResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(1, 16, 3, padding=1, bias=False)
            self.bn = tnn.BatchNorm2d(16)
            self.relu = tnn.ReLU()
            self.block1 = ResidualBlock(16)
            self.pool = tnn.MaxPool2d(2)
            self.block2 = ResidualBlock(16)
            self.gap = tnn.AdaptiveAvgPool2d(1)
            self.flatten = tnn.Flatten()
            self.fc = tnn.Linear(16, 10)

        def forward(self, x):
            x = self.block1(self.relu(self.bn(self.conv(x))))
            x = self.block2(self.pool(x))
            return self.fc(self.flatten(self.gap(x)))

    return SmallResNet()


def test_readme_residual_cnn_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_model(torch).double()
    ours = _namespace()["SmallResNet"]().double()
    rng = np.random.default_rng(0)
    # give the batch norms non-trivial statistics and affine parameters first
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(3)
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    ours.load_state_dict(sd)
    x = rng.standard_normal((4, 1, 12, 12))
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        assert_close(ours(x), theirs(torch.tensor(x)).numpy(), np.float64)

    ours.train()
    theirs.train()
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for step in range(3):
        xb = rng.standard_normal((8, 1, 12, 12))
        yb = rng.integers(0, 10, 8)
        loss = loss_fn(ours(xb), yb)
        ours.zero_grad()
        ours.backward(loss_fn.backward())
        opt.step()
        tloss = tloss_fn(theirs(torch.tensor(xb)), torch.tensor(yb))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert_close(loss, np.float64(tloss.item()), np.float64)
    for k, v in theirs.state_dict().items():
        mine = ours.state_dict()[k]
        if mine.dtype.kind == "i":
            np.testing.assert_array_equal(mine, v.numpy(), err_msg=k)
        else:
            assert_close(mine, v.numpy(), np.float64, err_msg=k)


def test_readme_residual_cnn_runs_in_float32_on_both_backends():
    model = _namespace()["SmallResNet"]()
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    out = model(x)
    assert out.shape == (2, 10) and out.dtype == np.float32
    g = model.backward(np.ones_like(out))
    assert g.shape == x.shape
    with fastconv.use_backend("numpy"):
        ref = model.eval()(x)
    assert_close(model(x), ref, np.float32)
