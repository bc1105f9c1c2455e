"""The module patterns labs write in PyTorch, small and hand-set: what the zoo sweep (benchmarks/zoo.py) and the
tests build to check catsel's default layers and capture beyond torchvision's and timm's own modules.

Each entry of :data:`PATTERNS` builds ``(module, image size)`` with random weights, in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv2dStaticSamePadding(nn.Conv2d):
    """A conv holding a padding module (EfficientNet-PyTorch's): no leaf, yet a conv."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, image_size=32, bias=False):
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=bias)
        out = -(-image_size // stride)
        pad = max((out - 1) * stride + kernel - image_size, 0)
        self.static_padding = nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))

    def forward(self, x):
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Swish(nn.Module):
    """A lab's activation module: no parameters, elementwise."""

    def forward(self, x):
        return x * torch.sigmoid(x)


class MBConv(nn.Module):
    """Expansion, depthwise conv, squeeze-excitation, projection and a residual; one Swish module called four
    times (reused within the block)."""

    def __init__(self, channels, size):
        super().__init__()
        wide = 4 * channels
        self._expand_conv = Conv2dStaticSamePadding(channels, wide, 1, image_size=size)
        self._bn0 = nn.BatchNorm2d(wide)
        self._depthwise_conv = Conv2dStaticSamePadding(wide, wide, 3, groups=wide, image_size=size)
        self._bn1 = nn.BatchNorm2d(wide)
        self._se_reduce = Conv2dStaticSamePadding(wide, 4, 1, image_size=1, bias=True)
        self._se_expand = Conv2dStaticSamePadding(4, wide, 1, image_size=1, bias=True)
        self._project_conv = Conv2dStaticSamePadding(wide, channels, 1, image_size=size)
        self._bn2 = nn.BatchNorm2d(channels)
        self._swish = Swish()

    def forward(self, inputs):
        x = self._swish(self._bn0(self._expand_conv(inputs)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        squeezed = self._se_expand(self._swish(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = torch.sigmoid(squeezed) * x
        return self._bn2(self._project_conv(x)) + inputs


class EfficientNetPort(nn.Module):
    """The EfficientNet-PyTorch layout: ``_conv_stem``, ``_blocks``, ``_conv_head``, a shared ``_swish``."""

    def __init__(self, size=32):
        super().__init__()
        self._conv_stem = Conv2dStaticSamePadding(3, 8, 3, stride=2, image_size=size)
        self._bn0 = nn.BatchNorm2d(8)
        self._blocks = nn.ModuleList([MBConv(8, size // 2) for _ in range(2)])
        self._conv_head = Conv2dStaticSamePadding(8, 32, 1, image_size=size // 2)
        self._bn1 = nn.BatchNorm2d(32)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(32, 10)
        self._swish = Swish()

    def forward(self, x):
        x = self._swish(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._swish(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(F.adaptive_avg_pool2d(x, 1).flatten(1)))


class Functional(nn.Module):
    """Activations as functions: ``F.relu``, ``torch.relu``, ``x.relu()``, a leaky ReLU with its slope."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.conv4 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = self.conv3(x).relu()
        x = F.leaky_relu(self.conv4(x), 0.2)
        return self.fc(x.mean((2, 3)))


class ReturnsTuple(Functional):
    """A ``forward`` that returns the logits and an auxiliary output."""

    def forward(self, x):
        return super().forward(x), x.mean()


class ReturnsDict(Functional):
    """A ``forward`` that returns a dict with its logits (a Hugging Face output)."""

    def forward(self, x):
        return {"features": x.mean((2, 3)), "logits": super().forward(x)}


class Grouped(nn.Module):
    """Grouped and depthwise convs with batch norms and in-place ReLUs."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1, groups=16, stride=2), nn.BatchNorm2d(16), nn.ReLU6(inplace=True),
            nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.Hardswish())
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


class ChannelsLastBlock(nn.Module):
    """ConvNeXt's block: a depthwise conv, then a layer norm and MLP on (batch, height, width, channels)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.stages = nn.Sequential(ChannelsLastBlock(16), ChannelsLastBlock(16))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


class SequenceFirst(nn.Module):
    """A transformer whose blocks keep tokens sequence-first, (tokens, batch, channels), as
    ``nn.TransformerEncoderLayer`` does without ``batch_first``; a class token first."""

    def __init__(self, size=32, patch=8, dim=32):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn((size // patch) ** 2 + 1, 1, dim) * 0.02)
        self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(dim, 2, 64, dropout=0.0) for _ in range(2)])
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).permute(2, 0, 1)  # (tokens, batch, channels)
        tokens = torch.cat([self.cls.expand(-1, x.shape[0], -1), tokens]) + self.pos
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(tokens[0])


def _made(cls, size, *args):
    def build():
        torch.manual_seed(0)
        module = cls(*args).eval()
        with torch.no_grad():  # batch norms with statistics other than 0 and 1, as a trained network's
            for sub in module.modules():
                if isinstance(sub, nn.BatchNorm2d):
                    sub.running_mean.uniform_(-0.5, 0.5)
                    sub.running_var.uniform_(0.5, 2.0)
        return module, size
    return build


#: name → a function building (module, image size).
PATTERNS = {
    "conv_subclass_with_padding_child": _made(EfficientNetPort, 32, 32),
    "functional_activations": _made(Functional, 32),
    "returns_tuple": _made(ReturnsTuple, 32),
    "returns_dict": _made(ReturnsDict, 32),
    "grouped_and_depthwise": _made(Grouped, 32),
    "channels_last_layer_norm": _made(ConvNeXtLike, 32),
    "sequence_first_tokens": _made(SequenceFirst, 32),
}
