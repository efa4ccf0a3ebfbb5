"""PyTorch reference for bench/train-step.ts: autoresearch's GPT and MuonAdamW in eager mode.

Same architecture, sizes, init and optimizer math as src/recipe/train.ts, written for the
PyTorch a Debian machine ships (1.13: no F.rms_norm, no scaled_dot_product_attention, no
torch.compile), so attention is the explicit masked softmax. Prints one JSON line.

  python3 bench/reference/gpt_torch.py --depth 4 --head-dim 64 --vocab 4096 --seq 256 --batch 8
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

POLAR_EXPRESS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]
EPS = torch.finfo(torch.float32).eps


def norm(x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


def rotary(x, cos, sin):  # x: (B, T, H, D), cos/sin: (T, D/2)
    d = x.shape[3] // 2
    x1, x2 = x[..., :d], x[..., d:]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], 3)


class GPT(torch.nn.Module):
    def __init__(self, depth, head_dim, vocab, seq):
        super().__init__()
        C = math.ceil(depth * 64 / head_dim) * head_dim
        self.C, self.H, self.D, self.L, self.T = C, C // head_dim, head_dim, depth, seq
        self.V = vocab
        P = lambda *s: torch.nn.Parameter(torch.empty(*s))
        self.wte, self.lm_head = P(vocab, C), P(vocab, C)
        self.resid, self.x0l = P(depth), P(depth)
        self.has_ve = [i % 2 == (depth - 1) % 2 for i in range(depth)]
        self.ve = torch.nn.ParameterList([P(vocab, C) for i in range(depth) if self.has_ve[i]])
        self.blocks = torch.nn.ModuleList()
        for i in range(depth):
            b = torch.nn.Module()
            b.q, b.k, b.v, b.proj = P(C, C), P(C, C), P(C, C), P(C, C)
            b.fc, b.mproj = P(4 * C, C), P(C, 4 * C)
            b.gate = P(self.H, 32) if self.has_ve[i] else None
            self.blocks.append(b)
        pattern = "SSSL"
        self.windows = [seq if pattern[i % 4] == "L" else seq // 2 for i in range(depth)]
        self.windows[-1] = seq
        inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        f = torch.outer(torch.arange(seq, dtype=torch.float32), inv)
        self.cos, self.sin = f.cos(), f.sin()
        i = torch.arange(seq)
        diff = i[:, None] - i[None, :]
        self.masks = {w: torch.where((diff >= 0) & (diff <= w), 0.0, float("-inf")) for w in set(self.windows)}

    @torch.no_grad()
    def init_weights(self):
        s = 3 ** 0.5 * self.C ** -0.5
        torch.nn.init.normal_(self.wte, 0, 1)
        torch.nn.init.normal_(self.lm_head, 0, 0.001)
        for b in self.blocks:
            for w in (b.q, b.k, b.v, b.fc):
                torch.nn.init.uniform_(w, -s, s)
            b.proj.zero_()
            b.mproj.zero_()
            if b.gate is not None:
                b.gate.zero_()
        self.resid.fill_(1.0)
        self.x0l.fill_(0.1)
        for w in self.ve:
            torch.nn.init.uniform_(w, -s, s)

    def forward(self, idx, targets):
        B, T = idx.shape
        H, D = self.H, self.D
        cos, sin = self.cos[:T], self.sin[:T]
        x = norm(F.embedding(idx, self.wte))
        x0 = x
        ve_i = 0
        for i, b in enumerate(self.blocks):
            x = self.resid[i] * x + self.x0l[i] * x0
            h = norm(x)
            q = F.linear(h, b.q).view(B, T, H, D)
            k = F.linear(h, b.k).view(B, T, H, D)
            v = F.linear(h, b.v).view(B, T, H, D)
            if self.has_ve[i]:
                ve = F.embedding(idx, self.ve[ve_i]).view(B, T, H, D)
                ve_i += 1
                gate = 2 * torch.sigmoid(F.linear(h[..., :32], b.gate))
                v = v + gate.unsqueeze(-1) * ve
            q, k = norm(rotary(q, cos, sin)), norm(rotary(k, cos, sin))
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
            att = (q @ k.transpose(-1, -2)) * D ** -0.5 + self.masks[self.windows[i]][:T, :T]
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.C)
            x = x + F.linear(y, b.proj)
            x = x + F.linear(F.relu(F.linear(norm(x), b.fc)).square(), b.mproj)
        logits = F.linear(norm(x), self.lm_head)
        logits = 15 * torch.tanh(logits / 15)
        return F.cross_entropy(logits.view(-1, self.V), targets.view(-1), ignore_index=-1)


def adamw(p, g, m, v, step, lr, b1, b2, eps):
    m.lerp_(g, 1 - b1)
    v.lerp_(g.square(), 1 - b2)
    denom = (v / (1 - b2 ** step)).sqrt() + eps
    p.add_(m / denom, alpha=-lr / (1 - b1 ** step))


def muon(params, mom, second, momentum, lr, wd, beta2=0.95):
    g = torch.stack([p.grad for p in params])
    ps = torch.stack(list(params))
    mom.lerp_(g, 1 - momentum)
    g = g.lerp_(mom, momentum)
    X = g / (g.norm(dim=(-2, -1), keepdim=True) * 1.02 + 1e-6)
    for a, b, c in POLAR_EXPRESS:
        if g.size(-2) > g.size(-1):
            A = X.mT @ X
            X = a * X + X @ (b * A + c * (A @ A))
        else:
            A = X @ X.mT
            X = a * X + (b * A + c * (A @ A)) @ X
    g = X
    red = -1 if g.size(-2) >= g.size(-1) else -2
    v_mean = g.square().mean(dim=red, keepdim=True)
    n = g.size(red)
    v_norm = (v_mean.sum(dim=(-2, -1), keepdim=True) * n).sqrt()
    second.lerp_(v_mean, 1 - beta2)
    step_size = second.clamp_min(1e-10).rsqrt()
    v_norm_new = ((v_mean * n) * step_size.square()).sum(dim=(-2, -1), keepdim=True).sqrt()
    g = g * (step_size * (v_norm / v_norm_new.clamp_min(1e-10)))
    mask = (g * ps) >= 0
    ps.sub_(lr * g + lr * wd * ps * mask)
    for p, q in zip(params, ps.unbind(0)):
        p.copy_(q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = GPT(args.depth, args.head_dim, args.vocab, args.seq)
    model.init_weights()
    scale = (model.C / 768) ** -0.5
    adam_groups = [([model.lm_head], 0.004 * scale, (0.8, 0.95)), ([model.wte], 0.6 * scale, (0.8, 0.95)),
                   (list(model.ve), 0.6 * scale, (0.8, 0.95)), ([model.resid], 0.005, (0.8, 0.95)),
                   ([model.x0l], 0.5, (0.96, 0.95))]
    adam_state = {}
    shapes = {}
    for b in model.blocks:
        for w in (b.q, b.k, b.v, b.proj, b.gate, b.fc, b.mproj):
            if w is not None:
                shapes.setdefault(tuple(w.shape), []).append(w)
    muon_state = {s: (torch.zeros(len(ps), *s), torch.zeros(len(ps), s[0], 1) if s[0] >= s[1] else torch.zeros(len(ps), 1, s[1]))
                  for s, ps in shapes.items()}
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=gen)
    x, y = idx[:, :-1].contiguous(), idx[:, 1:].contiguous()

    def step(i):
        loss = model(x, y)
        loss.backward()
        with torch.no_grad():
            for params, lr, (b1, b2) in adam_groups:
                for p in params:
                    st = adam_state.setdefault(p, [0, torch.zeros_like(p), torch.zeros_like(p)])
                    st[0] += 1
                    adamw(p, p.grad, st[1], st[2], st[0], lr, b1, b2, 1e-10)
            for s, ps in shapes.items():
                mom, second = muon_state[s]
                muon(ps, mom, second, 0.85, 0.04 * max(1, s[0] / s[1]) ** 0.5, 0.2)
        model.zero_grad(set_to_none=True)
        return loss.item()

    losses = [step(i) for i in range(args.warmup)]
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step(i))
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "step_s_median": median,
        "tokens_per_s": args.batch * args.seq / median,
        "losses": losses,
        "params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
