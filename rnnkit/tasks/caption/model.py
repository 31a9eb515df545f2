"""Show, Attend and Tell (Xu et al. 2015): a CNN reads the image into a grid of annotation
vectors a_i (L locations of D features), an LSTM writes the caption word by word.

- **Encoder** (``encoder``): ``pool`` (the default, trained from scratch as ``dilated``), four
  conv3x3-BatchNorm-ReLU (the first of stride 2, the next two max-pooled): an S x S image
  gives an (S/8) x (S/8) grid, L = (S/8)^2; ``dilated``, an (S/4) x (S/4) grid whose
  attention scores come from local features (receptive field 25 pixels) and whose
  annotations from two more convs of dilation 2 and 4 on them (73 pixels), so that a sharp
  attention can both find an item and read what it is (``Encoder``); ``resnet18`` or
  ``resnet50``, torchvision's ResNet up to layer4 (``backbone.py``: an (S/32) x (S/32) grid
  of 512 or 2048 features), from scratch or from a torchvision state_dict
  (``encoder_weights``), optionally frozen (``freeze_encoder``); ``features``, no CNN: the
  annotations (D, G, G) of each image computed elsewhere (``features.py``, ``Flatten``).
  ``pool`` and ``dilated`` can start from an encoder taught to name the item under each grid
  cell first (``pretrain_steps``, ``pretrain.py``) or from another run's (``encoder_weights``).
- **Initial state** (``init_state``): h_0 = tanh(W_h mean_i a_i), c_0 = tanh(W_c mean_i a_i)
  (``mean``, the paper's); the same of the annotations average-pooled to a 4x4 grid and
  flattened (``grid``: the first state knows where the items are, as a CNN's fully connected
  features do in Show and Tell); or h_0 = c_0 = 0 (``zero``, soft and hard: the image enters
  through the context alone). ``auto`` (the default): grid for none and hard, zero for soft,
  chosen on scenes' validation split (benchmarks/caption.py).
- **Step t**: with attention, alpha_t = softmax_i(v^T tanh(W_a a_i + W_h h_{t-1})) (additive,
  ``rnnkit.nn.Attention``); the context z_t is beta_t * sum_i alpha_ti a_i with the gate
  beta_t = sigmoid(w_b h_{t-1}) (``soft``, the paper's section 4.2.1), or a_s with
  s ~ Multinomial(alpha_t) (``hard``, no gate: with one the decoder learned to shut the
  sampled locations out while they were noise, and REINFORCE then had nothing to learn from;
  in training, a batch uses the expected context sum_i alpha_ti a_i instead with probability
  ``mix``, and inference always does, as the authors' code). h_t, c_t = LSTM([E y_{t-1}; z_t],
  ...).
  ``none``: no attention. With ``image_input="every"`` (none's default) the image summary
  (the annotations pooled to 4x4 and flattened, or their mean with ``init_state="mean"``) is
  also part of z_t at every step, after the attention's context where there is one (as LRCN
  and m-RNN feed the image); with ``"first"`` (soft's and hard's) it enters the first state
  alone. Chosen on scenes' validation split: none writes far better captions with it, and
  soft and hard better ones too but leave their attention unused (benchmarks/caption.py).
- **Deep output**: p(y_t) = softmax(L_o dropout(tanh(E y_{t-1} + L_h h_t + L_z z_t))).

Loss (per target token, so runs of other caption lengths compare): the cross-entropy, plus
(soft, ``sharpness`` > 0; 0 by default) sharpness * H[alpha_t] summed over the steps, plus
(soft and hard, as the authors' code) lambda * sum_i (1 - sum_t alpha_ti)^2 per caption
(``doubly_stochastic``; on scenes' validation split it raised localisation, soft 0.32 vs 0.19
and hard 0.23 vs 0.11 without it, see benchmarks/caption.py), plus (hard, sampled batches)
the REINFORCE surrogate (cost - b) log p(s) with the moving-average baseline
b <- 0.9 b + 0.1 cost (cost = the caption's negative log-likelihood; ``baseline`` is a
buffer, so a checkpoint carries it) and the entropy bonus -lambda_e H[alpha]
(``reinforce_surrogate``).
``reinforce_cost="to-go"`` gives the location of step t the cost of steps t, t+1, ... alone
(the words before it do not depend on it, so the estimate stays unbiased, usually with less
variance), against b per remaining target word (b then the moving-average NLL per word).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.tokens import END, PAD, START
from rnnkit.nn import Attention, Decoded, LSTMCell, beam_search, greedy, select_batch
from rnnkit.tasks.caption.backbone import ResNetEncoder, load_state
from rnnkit.tasks.caption.config import Config


def doubly_stochastic(alphas: Tensor, real: Tensor) -> Tensor:
    """sum_i (1 - sum_t alpha_ti)^2 of each caption (B,), from alphas (B, T, L) at the steps
    where ``real`` (B, T) is True."""
    total = (alphas * real[..., None]).sum(1)  # (B, L)
    return ((1.0 - total) ** 2).sum(1)


def reinforce_surrogate(cost: Tensor, log_prob: Tensor, baseline: Tensor | float) -> Tensor:
    """(cost - b) * log p(s), cost held constant: its gradient is the score-function estimate
    of the gradient of E_s[cost] through p(s) (unbiased for any b that does not depend on s)."""
    return (cost.detach() - baseline) * log_prob


POOLED = 4  # init_state="grid": the annotations average-pooled to a 4x4 grid


class State(NamedTuple):
    """The decoder's state: the batch is dim 0 of every tensor (``select_batch`` reorders)."""

    h: Tensor  # (B, H)
    c: Tensor  # (B, H)
    feats: Tensor  # (B, L, D) the annotation vectors
    keys: Tensor  # (B, L, A) their part of the attention scores, once
    image: Tensor  # (B, P) image_input "every": the summary in every step's z_t; else (B, 0)


def _reorder(state: State, index: Tensor) -> State:
    """The rows ``index`` of every tensor of ``state`` (beam search)."""
    return State(*select_batch(tuple(state), index))


class Terms(NamedTuple):
    """The parts of the loss of a batch (``CaptionModel.terms``)."""

    logits: Tensor  # (B, T, V)
    nll: Tensor  # (B, T) each target's cross-entropy, 0 at padding
    real: Tensor  # (B, T) True at real targets
    penalty: Tensor | None  # (B,) the doubly stochastic term; None without attention
    log_p: Tensor | None  # (B, T) hard, sampled: log p(s_t) of the locations drawn, 0 at padding
    entropy: Tensor | None  # (B,) the attention's entropy, summed over steps; None without


class Encoder(nn.Module):
    """A small CNN: (B, C, S, S) images -> (annotations (B, L, D), local features (B, L, D)).

    ``pool`` (L = (S // 8)^2): conv3x3 stride 2, then two conv3x3 each followed by a 2x2
    max-pool, then a conv3x3 at the final grid; the local features are the annotations.
    ``dilated`` (L = (S // 4)^2, cells of 4 pixels): conv3x3 stride 2, a conv3x3 and one 2x2
    max-pool, two conv3x3 (receptive field 25 pixels: the local features, what the attention
    scores, so a cell scores high only near the item), then conv3x3s of dilation 2 and 4
    (receptive field 73: the annotations, so the attended cell says what the whole item is).
    Each conv with BatchNorm and ReLU."""

    def __init__(self, in_channels: int, channels: int, kind: str = "pool"):
        super().__init__()
        self.kind = kind
        widths = (max(8, channels // 4), max(8, channels // 2), channels, channels)
        pools, dilations = ((1, 2), (1, 1, 1, 1)) if kind == "pool" else ((1,), (1, 1, 1, 1))
        self.net = self._stack(in_channels, widths, dilations, pools, stride=True)
        self.context = None
        if kind == "dilated":
            self.context = self._stack(channels, (channels, channels), (2, 4), (), stride=False)

    @staticmethod
    def _stack(c: int, widths: tuple, dilations: tuple, pools: tuple, stride: bool) -> nn.Module:
        layers: list[nn.Module] = []
        for k, (w, d) in enumerate(zip(widths, dilations, strict=True)):
            s = 2 if stride and k == 0 else 1
            layers += [nn.Conv2d(c, w, 3, s, padding=d, dilation=d, bias=False)]
            layers += [nn.BatchNorm2d(w), nn.ReLU()] + ([nn.MaxPool2d(2)] if k in pools else [])
            c = w
        return nn.Sequential(*layers)

    frozen = False

    def freeze(self) -> Encoder:
        """Train it no more: its parameters need no gradient and its batch norms stay in eval
        mode (``--freeze-encoder``, after its weights are loaded or pretrained)."""
        self.frozen = True
        self.requires_grad_(False)
        return self.train(self.training)

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode and not self.frozen)
        self.training = mode
        return self

    def load_weights(self, weights: str) -> None:
        """Start from the state_dict FILE ``weights`` of an encoder like this one (a run's
        encoder.safetensors, which ``--pretrain-steps`` writes)."""
        fix = "pass the encoder.safetensors of a run with the same --encoder and --channels"
        load_state(self, weights, f"rnnkit's {self.kind} encoder of this size", fix)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        local = self.net(images)  # (B, D, g, g)
        feats = local if self.context is None else self.context(local)
        return feats.flatten(2).transpose(1, 2), local.flatten(2).transpose(1, 2)  # (B, L, D)


class Flatten(nn.Module):
    """``encoder="features"``: annotations (B, D, G, G) computed elsewhere -> (B, L, D) twice
    (the attention scores and reads the same annotations, as with a ResNet)."""

    def forward(self, grid: Tensor) -> tuple[Tensor, Tensor]:
        feats = grid.flatten(2).transpose(1, 2)
        return feats, feats


class CaptionModel(nn.Module):
    """The captioner of the module docstring: ``forward(images, captions) -> (logits,
    loss)``, ``decode(images, ...)``, ``attention_maps(images, outputs)``."""

    def __init__(self, cfg: Config, vocab_size: int, in_channels: int):
        super().__init__()
        H, E = cfg.hidden_size, cfg.embedding_size
        self.cfg, self.kind = cfg, cfg.attention
        if cfg.encoder == "features":  # annotations computed elsewhere: no CNN
            D, self.encoder = in_channels, Flatten()
        elif cfg.encoder.startswith("resnet"):
            self.encoder = ResNetEncoder(
                in_channels, cfg.encoder, bool(cfg.encoder_weights), cfg.freeze_encoder
            )
            D = self.encoder.dim
        else:
            D = cfg.channels
            self.encoder = Encoder(in_channels, D, cfg.encoder)
        summary = D if cfg.first_state == "mean" else D * POOLED**2
        self.every = cfg.image_input == "every"
        self.init_h = self.init_c = None  # init_state zero: h_0 = c_0 = 0
        if cfg.first_state != "zero":
            self.init_h, self.init_c = nn.Linear(summary, H), nn.Linear(summary, H)
        self.embedding = nn.Embedding(vocab_size, E, padding_idx=PAD)
        self.attention = None
        if self.kind != "none":
            self.attention = Attention(H, D, "bahdanau", cfg.attention_size)
        # the size of z_t: the attention's context, then (image_input "every") the summary
        Z = (D if self.attention is not None else 0) + (summary if self.every else 0)
        # the gate is soft attention's (the paper's section 4.2.1); hard attention's context is
        # a_s itself: a gate would let the decoder shut out the sampled locations while they are
        # still noise, and then no location costs less than another and REINFORCE learns nothing
        self.gate = nn.Linear(H, 1) if self.kind == "soft" else None
        self.cell = LSTMCell(E + Z, H, forget_bias=cfg.forget_bias)
        self.out_h = nn.Linear(H, E)
        self.out_z = nn.Linear(Z, E) if Z else None
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(E, vocab_size)
        self.register_buffer("never", torch.tensor([PAD, START]), persistent=False)
        self.register_buffer("baseline", torch.zeros(()))  # hard: the moving-average cost

    # -- pieces ------------------------------------------------------------------------------

    def encode(self, images: Tensor) -> State:
        if images.dim() != 4:
            raise ValueError(
                f"CaptionModel: expected images (B, C, S, S), got {tuple(images.shape)}"
            )
        feats, local = self.encoder(images)  # (B, L, D) each
        keys = self.attention.project(local) if self.attention is not None else feats
        B = feats.size(0)
        summary = self.summary(feats) if self.init_h is not None or self.every else None
        if self.init_h is None:  # the image enters through the attention's context alone
            h = c = feats.new_zeros(B, self.cfg.hidden_size)
        else:
            h, c = torch.tanh(self.init_h(summary)), torch.tanh(self.init_c(summary))
        image = summary if self.every else feats.new_zeros(B, 0)
        return State(h, c, feats, keys, image)

    def summary(self, feats: Tensor) -> Tensor:
        """What the first state reads of the annotations (B, L, D): their mean (B, D), or
        (``init_state`` grid or zero) their averages over a POOLED x POOLED grid, flattened."""
        if self.cfg.first_state == "mean":
            return feats.mean(1)
        B, L, D = feats.shape
        g = int(round(L**0.5))
        grid = feats.transpose(1, 2).reshape(B, D, g, g)
        return F.adaptive_avg_pool2d(grid, POOLED).flatten(1)  # (B, D * POOLED^2)

    def attend(self, state: State) -> tuple[Tensor, Tensor, Tensor]:
        """(expected context (B, D), alpha (B, L), beta (B, 1)) at ``state``; beta is 1
        without a gate (hard attention)."""
        mask = torch.ones(state.feats.shape[:2], dtype=torch.bool, device=state.feats.device)
        context, alpha = self.attention(state.h, state.feats, mask, state.keys)
        if self.gate is None:
            return context, alpha, context.new_ones(context.size(0), 1)
        return context, alpha, torch.sigmoid(self.gate(state.h))

    def with_image(self, z: Tensor | None, state: State) -> Tensor | None:
        """The context z_t: the attention's (B, D) or None, then (``image_input="every"``) the
        image summary (B, P) after it."""
        if not self.every:
            return z
        return state.image if z is None else torch.cat([z, state.image], 1)

    def advance(self, tokens: Tensor, z: Tensor | None, state: State) -> tuple[Tensor, State]:
        """One LSTM step on the previous words (B,) and context z (B, D) or None: (logits (B, V),
        the new state)."""
        emb = self.embedding(tokens)  # (B, E)
        inputs = emb if z is None else torch.cat([emb, z], 1)  # (B, E + D)
        h, c = self.cell(inputs, (state.h, state.c))
        deep = emb + self.out_h(h) + (self.out_z(z) if z is not None else 0.0)  # (B, E)
        return self.output(self.drop(torch.tanh(deep))), state._replace(h=h, c=c)

    # -- training ----------------------------------------------------------------------------

    def terms(self, x: Tensor, targets: Tensor, sampled: bool) -> Terms:
        """The loss's parts for images ``x`` and captions ``targets`` (B, T + 1) = START,
        words, END, PAD... (teacher forcing); ``sampled``: hard attention draws locations."""
        state = self.encode(x)
        inputs, gold = targets[:, :-1], targets[:, 1:]  # (B, T) each
        real = gold != PAD  # (B, T)
        logits, alphas, log_ps, entropies = [], [], [], []
        for t in range(inputs.size(1)):
            z = None
            if self.attention is not None:
                z, alpha, beta = self.attend(state)
                alphas.append(alpha)
                if sampled:
                    s = torch.multinomial(alpha.detach(), 1)  # (B, 1) a location per caption
                    z = state.feats.gather(1, s[..., None].expand(-1, -1, z.size(1)))[:, 0]
                    log_ps.append(alpha.gather(1, s)[:, 0].clamp_min(1e-12).log())  # (B,)
                entropies.append(-(alpha * alpha.clamp_min(1e-12).log()).sum(1))  # (B,)
                z = beta * z
            step_logits, state = self.advance(inputs[:, t], self.with_image(z, state), state)
            logits.append(step_logits)
        out = torch.stack(logits, 1)  # (B, T, V)
        nll = F.cross_entropy(out.float().transpose(1, 2), gold, reduction="none") * real
        penalty = doubly_stochastic(torch.stack(alphas, 1), real) if alphas else None
        log_p = None
        entropy = (torch.stack(entropies, 1) * real).sum(1) if entropies else None  # (B,)
        if sampled:
            log_p = torch.stack(log_ps, 1) * real  # (B, T) log p(s_t)
        return Terms(out, nll, real, penalty, log_p, entropy)

    def forward(self, x: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if targets is None:
            raise ValueError(
                "CaptionModel: forward needs the captions (teacher forcing); use decode"
            )
        sampled = self.kind == "hard" and self.training and bool(torch.rand(()) >= self.cfg.mix)
        t = self.terms(x, targets, sampled)
        n = t.real.sum().clamp_min(1)
        loss = t.nll.sum() / n
        if self.attention is not None and self.cfg.doubly_stochastic > 0:
            loss = loss + self.cfg.doubly_stochastic * t.penalty.sum() / n
        if self.kind == "soft" and self.cfg.sharpness > 0:
            loss = loss + self.cfg.sharpness * t.entropy.sum() / n
        if sampled:
            surrogate = self.surrogate(t, self.baseline).sum()
            surrogate = surrogate - self.cfg.entropy_weight * t.entropy.sum()
            # its gradient, not its value: the loss logged stays the cross-entropy
            loss = loss + (surrogate - surrogate.detach()) / n
            with torch.no_grad():
                decay, to_go = self.cfg.baseline_decay, self.cfg.reinforce_cost == "to-go"
                cost = t.nll.sum() / n if to_go else t.nll.sum(1).mean()  # per word / caption
                self.baseline.mul_(decay).add_((1 - decay) * cost)
        return t.logits, loss

    def surrogate(self, t: Terms, baseline: Tensor | float) -> Tensor:
        """The REINFORCE surrogate of each caption (B,) of sampled ``t``: its gradient is the
        score-function estimate of the gradient of E_s[-log p(y | s, a)] through p(s)."""
        if self.cfg.reinforce_cost == "to-go":
            cost = t.nll.flip(1).cumsum(1).flip(1)  # (B, T) the NLL of steps t, t+1, ...
            words = t.real.flip(1).cumsum(1).flip(1)  # (B, T) the target words from t on
            return reinforce_surrogate(cost, t.log_p, baseline * words).sum(1)
        return reinforce_surrogate(t.nll.sum(1), t.log_p.sum(1), baseline)

    def reinforce_variance(self, x: Tensor, targets: Tensor, draws: int = 8) -> dict[str, float]:
        """The variance of the REINFORCE gradient of one batch with respect to the attention's
        parameters (its mean over them), over ``draws`` draws of the locations: with the
        model's baseline b and without (b = 0)."""
        params = [p for p in self.attention.parameters() if p.requires_grad]
        grads: dict[str, list[Tensor]] = {"baseline": [], "no_baseline": []}
        for _ in range(draws):
            t = self.terms(x, targets, True)
            for name, b in (("baseline", self.baseline), ("no_baseline", 0.0)):
                g = torch.autograd.grad(self.surrogate(t, b).sum(), params, retain_graph=True)
                grads[name].append(torch.cat([v.flatten() for v in g]))
        return {
            f"reinforce_grad_variance_{k}": float(torch.stack(v).var(0).mean())
            for k, v in grads.items()
        }

    # -- inference ---------------------------------------------------------------------------

    def _log_probs(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        z = None
        if self.attention is not None:
            z, _, beta = self.attend(state)
            z = beta * z
        logits, state = self.advance(tokens, self.with_image(z, state), state)
        # START and PAD are never a target: a caption cannot contain them (an untrained model
        # would otherwise write them)
        logits = logits.float().index_fill(1, self.never, -math.inf)
        return torch.log_softmax(logits, dim=1), state

    @torch.no_grad()
    def decode(self, images: Tensor, *, max_length: int, beam: int = 1) -> Decoded:
        """Captions of ``images`` (B, C, S, S): beam search (``beam`` > 1) or greedy search
        (``rnnkit.nn.decoding``); word ids without START and END."""
        state, B = self.encode(images), images.size(0)
        kw = dict(start=START, end=END, max_length=max_length, device=images.device)
        if beam > 1:
            return beam_search(self._log_probs, state, B, beam=beam, reorder=_reorder, **kw)
        return greedy(self._log_probs, state, B, **kw)

    @torch.no_grad()
    def attention_maps(self, images: Tensor, outputs: list[list[int]]) -> Tensor | None:
        """(B, T, L) alpha of the step that wrote each word of ``outputs`` (then END), as in
        decoding (the expected context; zero past each output's end). None without attention."""
        if self.attention is None:
            return None
        state = self.encode(images)
        T = max(len(o) for o in outputs) + 1
        tokens = torch.full((len(outputs), T), END, dtype=torch.long, device=images.device)
        tokens[:, 0] = START
        for row, o in enumerate(outputs):
            tokens[row, 1 : len(o) + 1] = torch.tensor(o, dtype=torch.long)
        maps = []
        for t in range(T):
            z, alpha, beta = self.attend(state)
            maps.append(alpha)
            _, state = self.advance(tokens[:, t], self.with_image(beta * z, state), state)
        lengths = torch.tensor([len(o) for o in outputs], device=images.device)
        after = torch.arange(T, device=images.device)[None, :] > lengths[:, None]  # (B, T)
        return torch.stack(maps, 1).masked_fill(after[..., None], 0.0)  # (B, T, L)
