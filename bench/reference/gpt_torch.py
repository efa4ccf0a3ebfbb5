"""PyTorch reference for bench/train-step.ts: the recipe's GPT and MuonAdamW, one training step.

What it is: src/recipe/train.ts written the way a PyTorch 2.x user would write it for speed on
a CPU: float32, F.rms_norm, F.scaled_dot_product_attention (is_causal for full-context layers,
a boolean window mask for the half-context "S" layers), the optimizer as autoresearch's fused
step functions over same-shape stacks, and with --compile torch.compile on the model and on both
optimizer steps. It times whole steps (forward, backward, Muon + AdamW update, zero_grad,
loss.item()) exactly as the bench times the engine, and prints one JSON line last on stdout.
It must not change the model's or the optimizer's math relative to the recipe and
native/src/ops/optim.cpp (Newton-Schulz runs in float32, as the engine's; autoresearch's GPU
code runs it in bf16). Needs torch >= 2.4 (F.rms_norm).

  python3 bench/reference/gpt_torch.py --threads 2                  # eager, torch's own init
  python3 bench/reference/gpt_torch.py --threads 2 --compile        # torch.compile
  python3 bench/reference/gpt_torch.py --init DIR                   # the engine's init and batch
                                                                    # (DIR written by the bench)

Allocator. PyTorch's CPU allocator is glibc malloc, which serves every buffer of 32 MiB or more
(the (B*T, V) logits and their gradients: 2048 x 4096 float32 = 32 MiB) with a fresh mmap and
unmaps it on free, so each step first-touch page-faults those buffers again. On the 2-core VM of
BENCHMARKS.md a fault costs about 20 us: an 8M-element torch.mul took 153 ms instead of 2.4 ms,
and the whole step ran at 243 tokens/s instead of 3,238 (the pre-2.x version of this file, same
math). The engine keeps a caching allocator, so for a like-for-like comparison this script
re-executes itself with glibc's mmap and trim thresholds raised (GLIBC_TUNABLES), the
no-install equivalent of the jemalloc/tcmalloc LD_PRELOAD that PyTorch's CPU tuning guide
recommends. --malloc default keeps glibc's defaults (to measure the difference).
"""
import argparse
import os
import sys

MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"


def reexec_with_tuned_malloc():
    """glibc reads GLIBC_TUNABLES only at process start, hence the exec (before torch loads)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--malloc", default="tuned")
    if pre.parse_known_args()[0].malloc == "default":
        return
    current = os.environ.get("GLIBC_TUNABLES", "")
    if MALLOC_TUNABLES in current:
        return
    env = dict(os.environ, GLIBC_TUNABLES=":".join(t for t in (current, MALLOC_TUNABLES) if t))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


if __name__ == "__main__":
    reexec_with_tuned_malloc()

import gc  # noqa: E402 - after the re-exec on purpose
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

VE_GATE_CHANNELS = 32
SOFTCAP = 15
WINDOW_PATTERN = "SSSL"
POLAR_EXPRESS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]


def log(msg):
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------

def norm(x):
    return F.rms_norm(x, (x.size(-1),))  # eps: float32's epsilon, as the engine's rmsNorm


def rotary(x, cos, sin):  # x: (B, T, H, D); cos/sin: (1, T, 1, D/2); halves convention
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], -1)


def recipe_windows(depth, seq):
    """computeWindows of the recipe: S = half context, L = full, the last layer always full."""
    w = [seq if WINDOW_PATTERN[i % len(WINDOW_PATTERN)] == "L" else seq // 2 for i in range(depth)]
    w[-1] = seq
    return w


class GPT(torch.nn.Module):
    def __init__(self, depth, head_dim, vocab, seq):
        super().__init__()
        C = math.ceil(depth * 64 / head_dim) * head_dim  # ASPECT_RATIO 64, rounded to whole heads
        self.C, self.H, self.D, self.L, self.T, self.V = C, C // head_dim, head_dim, depth, seq, vocab
        P = lambda *s: torch.nn.Parameter(torch.empty(*s))
        self.wte, self.lm_head = P(vocab, C), P(vocab, C)  # (V, C)
        self.resid, self.x0l = P(depth), P(depth)  # (L)
        self.blocks = torch.nn.ModuleList()
        for i in range(depth):
            b = torch.nn.Module()
            b.q, b.k, b.v, b.proj = P(C, C), P(C, C), P(C, C), P(C, C)  # n_kv_head = n_head
            b.fc, b.mproj = P(4 * C, C), P(C, 4 * C)
            has_ve = i % 2 == (depth - 1) % 2  # alternating, the last always included
            b.gate = P(self.H, VE_GATE_CHANNELS) if has_ve else None  # (Hkv, 32)
            b.ve = P(vocab, C) if has_ve else None  # value embedding (V, Hkv*D)
            self.blocks.append(b)
        self.windows = recipe_windows(depth, seq)
        # Rotary tables as the engine builds them: float64 math, stored float32.
        inv = 1.0 / 10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        f = torch.outer(torch.arange(seq, dtype=torch.float64), inv)  # (T, D/2)
        self.register_buffer("cos", f.cos().float()[None, :, None, :], persistent=False)
        self.register_buffer("sin", f.sin().float()[None, :, None, :], persistent=False)
        # Query i sees keys i - w ..= i (the engine's window). w >= T - 1 is plain causal.
        i = torch.arange(seq)
        diff = i[:, None] - i[None, :]  # (T, T)
        for w in sorted(set(self.windows)):
            if w < seq - 1:
                self.register_buffer(f"mask_{w}", (diff >= 0) & (diff <= w), persistent=False)

    def value_embeds(self):
        return [b.ve for b in self.blocks if b.ve is not None]

    def block_matrices(self):
        """Muon's parameters, in the recipe's blockMatrices order."""
        return [w for b in self.blocks for w in (b.q, b.k, b.v, b.proj, b.gate, b.fc, b.mproj) if w is not None]

    def engine_order(self):
        """The recipe's GPT.parameters() order, which the bench's --init file follows."""
        return [self.wte, self.lm_head, self.resid, self.x0l, *self.value_embeds(), *self.block_matrices()]

    @torch.no_grad()
    def init_weights(self):
        """The recipe's initWeights, drawn from torch's generator (not the engine's)."""
        s = 3 ** 0.5 * self.C ** -0.5
        torch.nn.init.normal_(self.wte, 0, 1)
        torch.nn.init.normal_(self.lm_head, 0, 0.001)
        for b in self.blocks:
            for w in (b.q, b.k, b.v, b.fc):
                torch.nn.init.uniform_(w, -s, s)
            b.proj.zero_()
            b.mproj.zero_()
        self.resid.fill_(1.0)
        self.x0l.fill_(0.1)
        for w in self.value_embeds():
            torch.nn.init.uniform_(w, -s, s)
        for b in self.blocks:
            if b.gate is not None:
                b.gate.zero_()  # sigmoid(0) * 2 = 1: a neutral gate

    @torch.no_grad()
    def load_flat(self, flat):
        """Copies a float32 vector laid out in engine_order() into the parameters."""
        need = sum(p.numel() for p in self.engine_order())
        if flat.numel() != need:
            raise ValueError(f"init file holds {flat.numel()} floats, the model needs {need}")
        at = 0
        for p in self.engine_order():
            p.copy_(flat[at:at + p.numel()].view_as(p))
            at += p.numel()

    def attention(self, q, k, v, window):  # q, k, v: (B, H, T, D) -> (B, H, T, D)
        T = q.size(-2)
        if window >= T - 1:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        mask = getattr(self, f"mask_{window}")[:T, :T]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def forward(self, idx, targets):  # idx, targets: (B, T) int64 -> mean loss
        B, T = idx.shape
        H, D, C = self.H, self.D, self.C
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        x = norm(F.embedding(idx, self.wte))  # (B, T, C)
        x0 = x
        for i, b in enumerate(self.blocks):
            x = self.resid[i] * x + self.x0l[i] * x0
            h = norm(x)
            q = F.linear(h, b.q).view(B, T, H, D)  # (B, T, C) -> (B, T, H, D)
            k = F.linear(h, b.k).view(B, T, H, D)
            v = F.linear(h, b.v).view(B, T, H, D)
            if b.ve is not None:
                # Value residual (ResFormer): the value embedding mixed in by a per-head gate.
                ve = F.embedding(idx, b.ve).view(B, T, H, D)
                gate = 2 * torch.sigmoid(F.linear(h[..., :VE_GATE_CHANNELS], b.gate))  # (B, T, H)
                v = v + gate.unsqueeze(-1) * ve
            q, k = norm(rotary(q, cos, sin)), norm(rotary(k, cos, sin))
            y = self.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), self.windows[i])
            y = y.transpose(1, 2).reshape(B, T, C)  # (B, H, T, D) -> (B, T, C)
            x = x + F.linear(y, b.proj)
            x = x + F.linear(F.relu(F.linear(norm(x), b.fc)).square(), b.mproj)
        logits = F.linear(norm(x), self.lm_head)  # (B, T, V)
        logits = SOFTCAP * torch.tanh(logits / SOFTCAP)
        return F.cross_entropy(logits.view(-1, self.V), targets.view(-1), ignore_index=-1)


# ---------------------------------------------------------------------------------------------
# Optimizer: Muon for the block matrices, AdamW for embeddings, head and scalars
# ---------------------------------------------------------------------------------------------

# The math of native/src/ops/optim.cpp (= autoresearch's adamw_step_fused / muon_step_fused).
# Hyperparameters arrive as 0-D float32 tensors so that torch.compile never recompiles when a
# value (the step count, Muon's momentum) changes; eager treats them as scalars.
def adamw_step(p, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, wd):
    p.mul_(1 - lr * wd)  # decoupled weight decay
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.lerp_(grad.square(), 1 - beta2)
    denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt() + eps
    p.sub_(exp_avg / denom * (lr / (1 - beta1 ** step)))


def muon_step(grads, params, momentum_buffer, second_buffer, momentum, lr, wd, beta2, red_dim):
    """grads, params, momentum_buffer: (K, M, N); second_buffer: (K, M, 1) if M >= N else (K, 1, N)."""
    momentum_buffer.lerp_(grads, 1 - momentum)
    g = grads.lerp_(momentum_buffer, momentum)  # Nesterov
    # Polar-express Newton-Schulz, float32 as the engine (autoresearch: bf16 on the GPU).
    x = g / (g.norm(dim=(-2, -1), keepdim=True) * 1.02 + 1e-6)
    tall = g.size(-2) > g.size(-1)
    for a, b, c in POLAR_EXPRESS:
        gram = x.mT @ x if tall else x @ x.mT
        poly = b * gram + c * (gram @ gram)
        x = a * x + (x @ poly if tall else poly @ x)
    g = x
    # NorMuon: per-row (or per-column) second moments rescale the update, its total norm kept.
    v_mean = g.square().mean(dim=red_dim, keepdim=True)
    n = g.size(red_dim)
    v_norm = (v_mean.sum(dim=(-2, -1), keepdim=True) * n).sqrt()
    second_buffer.lerp_(v_mean, 1 - beta2)
    step_size = second_buffer.clamp_min(1e-10).rsqrt()
    v_norm_new = (v_mean * n * step_size.square()).sum(dim=(-2, -1), keepdim=True).sqrt()
    g = g * (step_size * (v_norm / v_norm_new.clamp_min(1e-10)))
    # Cautious weight decay: only where the update and the weight agree in sign.
    mask = (g * params) >= 0
    params.sub_(lr * g + lr * wd * params * mask)


def muon_momentum(step):
    """The recipe's muonMomentum."""
    frac = min(step / 300, 1)
    return (1 - frac) * 0.85 + frac * 0.95


class MuonAdamW:
    """The recipe's setupOptimizer with its constants (no LR schedule: the bench runs none)."""

    def __init__(self, model, compile):
        scale = (model.C / 768) ** -0.5  # AdamW LRs scaled by 1/sqrt(d_model/768)
        betas = (0.8, 0.95)
        self.adam_groups = [  # (params, lr, betas); eps 1e-10, weight decay 0
            ([model.lm_head], 0.004 * scale, betas),
            ([model.wte], 0.6 * scale, betas),
            (model.value_embeds(), 0.6 * scale, betas),
            ([model.resid], 0.5 * 0.01, betas),
            ([model.x0l], 0.5, (0.96, 0.95)),
        ]
        shapes = {}
        for w in model.block_matrices():
            shapes.setdefault(tuple(w.shape), []).append(w)
        self.muon_groups = [shapes[s] for s in sorted(shapes, key=lambda s: "x".join(map(str, s)))]
        self.momentum = 0.85
        self.adam_state = {}
        self.muon_state = {}
        self.adamw_impl, self.muon_impl = adamw_step, muon_step
        if compile:
            self.adamw_impl = torch.compile(adamw_step, dynamic=False, fullgraph=True)
            self.muon_impl = torch.compile(muon_step, dynamic=False, fullgraph=True)
        self.h = {}  # 0-D hyperparameter tensors, one per (slot, name), reused every step

    def _scalar(self, key, value):
        t = self.h.get(key)
        if t is None:
            t = self.h[key] = torch.tensor(0.0)
        t.fill_(value)
        return t

    @torch.no_grad()
    def step(self):
        for gi, (params, lr, (b1, b2)) in enumerate(self.adam_groups):
            for p in params:
                st = self.adam_state.setdefault(p, [0, torch.zeros_like(p), torch.zeros_like(p)])
                st[0] += 1
                s = lambda name, v: self._scalar((gi, name), v)
                self.adamw_impl(p, p.grad, st[1], st[2], s("step", st[0]), s("lr", lr), s("b1", b1), s("b2", b2),
                                s("eps", 1e-10), s("wd", 0.0))
        for gi, params in enumerate(self.muon_groups):
            K, (M, N) = len(params), params[0].shape
            if gi not in self.muon_state:
                self.muon_state[gi] = (torch.zeros(K, M, N), torch.zeros(K, M, 1) if M >= N else torch.zeros(K, 1, N))
            mom, second = self.muon_state[gi]
            grads = torch.stack([p.grad for p in params])  # (K, M, N)
            stacked = torch.stack(params)
            s = lambda name, v: self._scalar(("muon", name), v)
            self.muon_impl(grads, stacked, mom, second, s("momentum", self.momentum),
                           s("lr", 0.04 * max(1.0, M / N) ** 0.5), s("wd", 0.2), s("beta2", 0.95),
                           -1 if M >= N else -2)
            torch._foreach_copy_(params, list(stacked.unbind(0)))


# ---------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model and the optimizer steps")
    ap.add_argument("--init", help="directory with params.f32 and batch.i32 written by bench/train-step.ts")
    ap.add_argument("--malloc", choices=("tuned", "default"), default="tuned", help="see the module docstring")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0:
        ap.error("need --steps >= 1 and --warmup >= 0")
    if not hasattr(F, "rms_norm"):
        sys.exit(f"gpt_torch.py needs torch >= 2.4 (F.rms_norm); this is {torch.__version__}")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(42)

    model = GPT(args.depth, args.head_dim, args.vocab, args.seq)
    if args.init:
        model.load_flat(torch.from_numpy(np.fromfile(os.path.join(args.init, "params.f32"), dtype=np.float32)))
        ids = torch.from_numpy(np.fromfile(os.path.join(args.init, "batch.i32"), dtype=np.int32)).long()
        ids = ids.view(args.batch, args.seq + 1)
    else:
        model.init_weights()
        ids = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=torch.Generator().manual_seed(1))
    x, y = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()  # (B, T) each
    n_params = sum(p.numel() for p in model.parameters())

    compile_error = None
    run_model = model
    optimizer = None
    if args.compile:
        # A compile failure (no C compiler, an inductor bug) surfaces here or at the first call.
        try:
            run_model = torch.compile(model, dynamic=False)
            optimizer = MuonAdamW(model, compile=True)
        except Exception as e:  # noqa: BLE001
            compile_error = f"{type(e).__name__}: {e}"
    if optimizer is None:
        optimizer = MuonAdamW(model, compile=False)

    def step(i):
        loss = run_model(x, y)
        loss.backward()
        optimizer.momentum = muon_momentum(i)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        return loss.item()

    losses = []
    t_warm = time.perf_counter()
    for i in range(args.warmup):
        try:
            losses.append(step(i))
        except Exception as e:  # noqa: BLE001
            if run_model is model or i > 0:
                raise
            # The first compiled call failed before updating anything: report it, run eager.
            compile_error = f"{type(e).__name__}: {e}"
            log(f"torch.compile failed, running eager: {compile_error.splitlines()[0][:300]}")
            run_model, optimizer = model, MuonAdamW(model, compile=False)
            model.zero_grad(set_to_none=True)
            losses.append(step(i))
    warmup_s = time.perf_counter() - t_warm
    # Python's GC can stall a step for tens of ms: off while timing, as autoresearch does.
    gc.collect()
    gc.freeze()
    gc.disable()
    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step(args.warmup + i))
        times.append(time.perf_counter() - t0)
    gc.enable()
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "torch": torch.__version__,
        "mode": "compile" if args.compile else "eager",
        "compiled": args.compile and compile_error is None,
        "compile_error": compile_error,
        "threads": torch.get_num_threads(),
        "malloc": "tuned" if MALLOC_TUNABLES in os.environ.get("GLIBC_TUNABLES", "") else "default",
        "attention": "sdpa",
        "init": "engine" if args.init else "torch",
        "params": n_params,
        "warmup": args.warmup,
        "warmup_s": warmup_s,
        "steps": args.steps,
        "step_s_median": median,
        "tokens_per_s": args.batch * args.seq / median,
        "losses": losses,
    }))


if __name__ == "__main__":
    main()
