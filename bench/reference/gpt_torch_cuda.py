"""PyTorch reference for bench/cuda-train.ts: autoresearch's train.py GPT and MuonAdamW on CUDA.

What it is: the model of src/recipe/train.ts (RMSNorm, rotary, QK-norm, value embeddings with
input-dependent gates, resid/x0 lambdas, ReLU^2 MLP, logit softcap 15) with autoresearch's
dtypes and init, trained the way autoresearch's train.py trains it on an H100: bf16 autocast for
the forward, bf16 embedding tables, torch.compile(model, dynamic=False) and the optimizer's
step functions compiled too (written here from the recipe's math). It times one micro-batch
forward + backward and the optimizer step separately (torch.cuda.synchronize() before every
clock read) and prints one JSON line last on stdout; progress goes to stderr. It must not need
anything beyond torch, and must not change the model's math relative to the recipe except where
this docstring says. One file on purpose, like autoresearch's train.py: it is copied to GPU
machines that have Python and torch and nothing else of this project.

One deliberate difference: attention. autoresearch calls the external FA3 kernel with its
"SSSL" sliding windows (short layers see T/2 keys back). Here every layer calls PyTorch's
built-in F.scaled_dot_product_attention(is_causal=True), i.e. full causal attention, because
SDPA has no sliding window short of an explicit (T, T) mask, which would drop it off the flash
path. That does somewhat MORE attention work than our engine (the "S" layers see all T keys
instead of T/2), so the comparison favours PyTorch only by kernel quality and slightly disfavours
it by FLOPs. MFU is computed for both sides on the recipe's FLOP count (its windows), so that a
token is worth the same FLOPs on both sides; the attention FLOP difference is printed to stderr
and carried in the JSON. (Counted with the causal mask, an S layer does 3/4 of an L layer's
attention work, not the 1/2 the estimate assumes; the JSON carries that count as well.)

  python3 bench/reference/gpt_torch_cuda.py --depth 8 --head-dim 128 --vocab 8192 --seq 2048 --batch 32
  python3 bench/reference/gpt_torch_cuda.py --no-compile ...            # eager PyTorch
  python3 bench/reference/gpt_torch_cuda.py --embed-dtype f32 ...       # f32 embedding tables, as the engine
  python3 bench/reference/gpt_torch_cuda.py --device cpu --no-compile --depth 2 --seq 64 --batch 2 --vocab 256
                                                                        # smoke test without a GPU

JSON fields (times in seconds, medians over --steps): fwd_bwd_s (one micro-batch), opt_s (one
optimizer step), micro_step_s (both, back to back), full_step_s = accum * fwd_bwd_s + opt_s with
accum = total_batch / (batch * seq), tokens_per_s = total_batch / full_step_s, mfu in percent of
peak_flops, peak_vram_mb = torch.cuda.max_memory_allocated() after the warmup, in MiB.
"""
import argparse
import gc
import json
import math
import os
import sys
import time

# As autoresearch: fewer fragmentation OOMs. The older variable name is read by every torch 2.x.
if "PYTORCH_ALLOC_CONF" not in os.environ and "PYTORCH_CUDA_ALLOC_CONF" not in os.environ:
    os.environ["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"

import torch
import torch.nn.functional as F

H100_BF16_PEAK_FLOPS = 989.5e12  # autoresearch's denominator for MFU
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
    if hasattr(F, "rms_norm"):  # torch >= 2.4; autoresearch's norm
        return F.rms_norm(x, (x.size(-1),))
    # Older torch (the CPU smoke test): F.rms_norm's math with its default eps.
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps).to(x.dtype)


def rotary(x, cos, sin):  # x: (B, T, H, D); cos/sin: (1, T, 1, D/2)
    d = x.shape[3] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], 3)


def causal_attention(q, k, v):  # q, k, v: (B, H, T, D) -> (B, H, T, D)
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # torch < 2.0 (the CPU smoke test): the same full causal attention, materialised.
    T = q.size(-2)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    att = (q @ k.transpose(-1, -2)) * q.size(-1) ** -0.5
    return att.masked_fill(~mask, float("-inf")).softmax(-1) @ v


def recipe_windows(depth, seq):
    """Per-layer windows of OUR recipe ("SSSL", last layer long): used for the FLOP count only."""
    w = [seq if WINDOW_PATTERN[i % len(WINDOW_PATTERN)] == "L" else seq // 2 for i in range(depth)]
    w[-1] = seq
    return w


class GPT(torch.nn.Module):
    def __init__(self, depth, head_dim, vocab, seq, device):
        super().__init__()
        C = math.ceil(depth * 64 / head_dim) * head_dim  # ASPECT_RATIO 64, rounded to whole heads
        self.C, self.H, self.D, self.L, self.T, self.V = C, C // head_dim, head_dim, depth, seq, vocab
        P = lambda *s: torch.nn.Parameter(torch.empty(*s, device=device))
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
        # Rotary tables as autoresearch: 10x the context, bf16, shaped to broadcast over (B, T, H, D/2).
        inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
        f = torch.outer(torch.arange(seq * 10, dtype=torch.float32, device=device), inv)
        self.register_buffer("cos", f.cos().bfloat16()[None, :, None, :], persistent=False)
        self.register_buffer("sin", f.sin().bfloat16()[None, :, None, :], persistent=False)

    def value_embeds(self):
        return [b.ve for b in self.blocks if b.ve is not None]

    def block_matrices(self):
        """Muon's parameters: every matrix of the transformer blocks (value embeddings excluded)."""
        return [w for b in self.blocks for w in (b.q, b.k, b.v, b.proj, b.gate, b.fc, b.mproj) if w is not None]

    @torch.no_grad()
    def init_weights(self, embed_dtype=torch.bfloat16):
        s = 3 ** 0.5 * self.C ** -0.5
        torch.nn.init.normal_(self.wte, 0, 1)
        torch.nn.init.normal_(self.lm_head, 0, 0.001)
        for b in self.blocks:
            for w in (b.q, b.k, b.v, b.fc):
                torch.nn.init.uniform_(w, -s, s)
            b.proj.zero_()
            b.mproj.zero_()
            if b.gate is not None:
                b.gate.zero_()  # sigmoid(0) * 2 = 1: a neutral gate
        self.resid.fill_(1.0)
        self.x0l.fill_(0.1)
        for w in self.value_embeds():
            torch.nn.init.uniform_(w, -s, s)
        # As autoresearch: the embedding tables live in bf16 (the engine keeps every parameter
        # f32; --embed-dtype f32 does too). bf16 tables make the residual stream bf16 as well.
        self.wte.data = self.wte.data.to(embed_dtype)
        for b in self.blocks:
            if b.ve is not None:
                b.ve.data = b.ve.data.to(embed_dtype)

    def forward(self, idx, targets):  # idx, targets: (B, T) int64
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
            # SDPA wants one dtype; under autocast an op may have left q/k in f32.
            q, k = q.to(v.dtype), k.to(v.dtype)
            y = causal_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (B, H, T, D)
            y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, H, T, D) -> (B, T, C)
            x = x + F.linear(y, b.proj)
            x = x + F.linear(F.relu(F.linear(norm(x), b.fc)).square(), b.mproj)
        logits = F.linear(norm(x), self.lm_head).float()  # (B, T, V)
        logits = SOFTCAP * torch.tanh(logits / SOFTCAP)
        return F.cross_entropy(logits.view(-1, self.V), targets.view(-1), ignore_index=-1)

    def flops_per_token(self, windows):
        """The recipe's GPT.flopsPerToken (autoresearch's estimate_flops) for the given windows."""
        n = sum(p.numel() for p in self.parameters())
        excluded = self.wte.numel() + self.resid.numel() + self.x0l.numel() + sum(w.numel() for w in self.value_embeds())
        attn = sum(12 * self.H * self.D * min(w, self.T) for w in windows)
        return 6 * (n - excluded) + attn


def masked_attention_flops(H, D, T, windows):
    """Attention FLOPs per token counting only the keys each query sees (keys i-w..i, causal)."""
    total = 0
    for w in windows:
        keys = sum(min(i, w) + 1 for i in range(T)) / T
        total += 12 * H * D * keys
    return total


# ---------------------------------------------------------------------------------------------
# Optimizer: Muon for the block matrices, AdamW for embeddings, head and scalars
# ---------------------------------------------------------------------------------------------

# One implementation of each step, the math of src/recipe/train.ts and native/src/ops/optim.cpp.
# Hyperparameters arrive as 0-D CPU tensors: torch.compile then never recompiles when a value
# changes, and eager PyTorch treats them as scalars. Written without lerp_ and alpha=, which in
# eager mode want weights of the operand's own dtype and device.
def adamw_step(p, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, wd):
    p.mul_(1 - lr * wd)  # decoupled weight decay
    exp_avg.add_((grad - exp_avg) * (1 - beta1))
    exp_avg_sq.add_((grad * grad - exp_avg_sq) * (1 - beta2))
    corrected_var = exp_avg_sq / (1 - beta2 ** step)
    p.sub_(exp_avg / (corrected_var.sqrt() + eps) * (lr / (1 - beta1 ** step)))


def orthogonalize(g, ns_steps):
    """Polar-express Newton-Schulz on a (K, M, N) stack, in bf16 as autoresearch runs it."""
    x = g.bfloat16()
    x = x / (x.norm(dim=(-2, -1), keepdim=True) * 1.02 + 1e-6)
    tall = g.size(-2) > g.size(-1)
    for a, b, c in POLAR_EXPRESS[:ns_steps]:
        gram = x.mT @ x if tall else x @ x.mT
        poly = b * gram + c * (gram @ gram)
        x = a * x + (x @ poly if tall else poly @ x)
    return x


def muon_step(grads, params, momentum_buffer, second_buffer, momentum, lr, wd, beta2, ns_steps, red_dim):
    momentum_buffer.add_((grads - momentum_buffer) * (1 - momentum))
    nesterov = grads + (momentum_buffer - grads) * momentum
    u = orthogonalize(nesterov, ns_steps)
    # NorMuon: per-row (or per-column) second moments rescale the update, its total norm kept.
    sq_mean = u.float().square().mean(dim=red_dim, keepdim=True)
    n = u.size(red_dim)
    norm_before = (sq_mean.sum(dim=(-2, -1), keepdim=True) * n).sqrt()
    second_buffer.add_((sq_mean.to(second_buffer.dtype) - second_buffer) * (1 - beta2))
    inv_rms = second_buffer.clamp_min(1e-10).rsqrt()
    norm_after = (sq_mean * n * inv_rms.float().square()).sum(dim=(-2, -1), keepdim=True).sqrt()
    u = u * (inv_rms * (norm_before / norm_after.clamp_min(1e-10))).to(u.dtype)
    agrees = (u * params) >= 0  # cautious weight decay: only where update and weight agree in sign
    params.sub_(lr * u + lr * wd * params * agrees)


class MuonAdamW:
    """MuonAdamW as the recipe (single GPU). compile=True runs the steps through torch.compile and
    falls back to the plain ones, for good, on the first error (recorded in compile_error)."""

    def __init__(self, model, compile):
        scale = (model.C / 768) ** -0.5  # AdamW LRs scaled by 1/sqrt(d_model/768)
        betas = (0.8, 0.95)
        self.adam_groups = [  # (params, lr, betas, eps, weight_decay)
            ([model.lm_head], 0.004 * scale, betas, 1e-10, 0.0),
            ([model.wte], 0.6 * scale, betas, 1e-10, 0.0),
            (model.value_embeds(), 0.6 * scale, betas, 1e-10, 0.0),
            ([model.resid], 0.5 * 0.01, betas, 1e-10, 0.0),
            ([model.x0l], 0.5, (0.96, 0.95), 1e-10, 0.0),
        ]
        shapes = {}
        for w in model.block_matrices():
            shapes.setdefault(tuple(w.shape), []).append(w)
        self.muon_groups = [shapes[s] for s in sorted(shapes)]  # one group per shape, as the recipe
        self.muon_lr, self.muon_wd, self.muon_beta2, self.ns_steps = 0.04, 0.2, 0.95, 5
        self.momentum = 0.85
        self.adam_state = {}
        self.muon_state = {}
        self.compiled = False
        self.compile_error = None
        self.adamw_impl, self.muon_impl = adamw_step, muon_step
        if compile:
            if hasattr(torch, "compile"):
                try:
                    self.adamw_impl = torch.compile(adamw_step, dynamic=False, fullgraph=True)
                    self.muon_impl = torch.compile(muon_step, dynamic=False, fullgraph=True)
                    self.compiled = True
                except Exception as e:  # noqa: BLE001 - any failure means: run eager
                    self.compile_error = f"{type(e).__name__}: {e}"
            else:
                self.compile_error = f"torch {torch.__version__} has no torch.compile"
        cpu = lambda: torch.tensor(0.0, dtype=torch.float32, device="cpu")
        self.t = {k: cpu() for k in ("step", "lr", "beta1", "beta2", "eps", "wd", "m_momentum", "m_lr", "m_wd", "m_beta2")}

    def _run(self, which, *args):
        """Calls the compiled step, and on its first error the plain one, for good."""
        try:
            return getattr(self, which)(*args)
        except Exception as e:  # noqa: BLE001
            if not self.compiled:
                raise
            self.compiled = False
            self.compile_error = f"{type(e).__name__}: {e}"
            log(f"optimizer compile failed, running eager: {self.compile_error.splitlines()[0][:300]}")
            self.adamw_impl, self.muon_impl = adamw_step, muon_step
            return getattr(self, which)(*args)

    def _adamw(self, p, st, lr, betas, eps, wd):
        t = self.t
        for key, value in (("step", st[0]), ("lr", lr), ("beta1", betas[0]), ("beta2", betas[1]), ("eps", eps), ("wd", wd)):
            t[key].fill_(value)
        self._run("adamw_impl", p, p.grad, st[1], st[2], t["step"], t["lr"], t["beta1"], t["beta2"], t["eps"], t["wd"])

    def _muon(self, params):
        M, N = params[0].shape
        if id(params[0]) not in self.muon_state:
            p = params[0]
            second = (len(params), M, 1) if M >= N else (len(params), 1, N)
            self.muon_state[id(params[0])] = (
                torch.zeros(len(params), M, N, dtype=p.dtype, device=p.device),
                torch.zeros(second, dtype=p.dtype, device=p.device),
            )
        mom, second = self.muon_state[id(params[0])]
        red_dim = -1 if M >= N else -2
        grads = torch.stack([p.grad for p in params])
        stacked = torch.stack(list(params))
        t = self.t
        lr = self.muon_lr * max(1.0, M / N) ** 0.5
        for key, value in (("m_momentum", self.momentum), ("m_lr", lr), ("m_wd", self.muon_wd), ("m_beta2", self.muon_beta2)):
            t[key].fill_(value)
        self._run("muon_impl", grads, stacked, mom, second, t["m_momentum"], t["m_lr"], t["m_wd"], t["m_beta2"],
                  self.ns_steps, red_dim)
        if hasattr(torch, "_foreach_copy_"):
            torch._foreach_copy_(params, list(stacked.unbind(0)))
        else:
            for p, q in zip(params, stacked.unbind(0)):
                p.copy_(q)

    @torch.no_grad()
    def step(self):
        for params, lr, betas, eps, wd in self.adam_groups:
            for p in params:
                if p.grad is None:
                    continue
                st = self.adam_state.setdefault(p, [0, torch.zeros_like(p), torch.zeros_like(p)])
                st[0] += 1
                self._adamw(p, st, lr, betas, eps, wd)
        for params in self.muon_groups:
            if all(p.grad is not None for p in params):
                self._muon(params)


def muon_momentum(step):
    frac = min(step / 300, 1)
    return (1 - frac) * 0.85 + frac * 0.95


# ---------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------

def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=32, help="micro-batch size (sequences)")
    ap.add_argument("--total-batch", type=int, default=2 ** 19, help="tokens per optimizer step, for the extrapolation")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", dest="compile", action="store_true", default=True)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke test only)")
    ap.add_argument("--embed-dtype", choices=("bf16", "f32"), default="bf16",
                    help="dtype of wte and the value embeddings: bf16 as autoresearch, f32 as the engine")
    ap.add_argument("--peak-flops", type=float, default=H100_BF16_PEAK_FLOPS)
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch < 1:
        ap.error("need --steps >= 1, --warmup >= 0, --batch >= 1")

    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    if on_cuda and not torch.cuda.is_available():
        print(json.dumps({"torch": torch.__version__, "error": "torch.cuda.is_available() is False"}))
        sys.exit(2)
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    torch.manual_seed(42)
    if on_cuda:
        torch.cuda.manual_seed(42)
    torch.set_float32_matmul_precision("high")  # as autoresearch

    model = GPT(args.depth, args.head_dim, args.vocab, args.seq, device)
    model.init_weights(torch.bfloat16 if args.embed_dtype == "bf16" else torch.float32)
    windows = recipe_windows(args.depth, args.seq)
    flops = model.flops_per_token(windows)
    flops_sdpa = model.flops_per_token([args.seq] * args.depth)  # what full causal attention counts
    n_params = sum(p.numel() for p in model.parameters())
    masked = masked_attention_flops(model.H, model.D, args.seq, windows)
    masked_sdpa = masked_attention_flops(model.H, model.D, args.seq, [args.seq] * args.depth)
    log(f"{torch.__version__} on {torch.cuda.get_device_name(0) if on_cuda else 'cpu'}: "
        f"depth {args.depth}, dim {model.C}, {n_params / 1e6:.2f}M params, batch {args.batch} x {args.seq}")
    log(f"attention: SDPA full causal in every layer vs the recipe's windows {windows}: "
        f"+{flops_sdpa - flops:.4g} FLOPs/token by the estimate ({100 * (flops_sdpa - flops) / flops:.2f}% of "
        f"{flops:.4g}), +{masked_sdpa - masked:.4g} counting only the keys the causal mask lets through; "
        f"MFU counts {flops:.4g} FLOPs/token on both sides")

    optimizer = MuonAdamW(model, args.compile)
    run_model = model
    model_compiled, model_compile_error = False, None
    if args.compile:
        if hasattr(torch, "compile"):
            try:
                run_model = torch.compile(model, dynamic=False)
                model_compiled = True
            except Exception as e:  # noqa: BLE001
                model_compile_error = f"{type(e).__name__}: {e}"
        else:
            model_compile_error = f"torch {torch.__version__} has no torch.compile"
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=gen)
    x, y = ids[:, :-1].contiguous().to(device), ids[:, 1:].contiguous().to(device)  # (B, T) each

    def fwd_bwd():
        with autocast:
            loss = run_model(x, y)
        loss.backward()
        return loss.detach()

    losses = []

    def timed_step(i):
        nonlocal run_model, model_compiled, model_compile_error
        sync()
        t0 = time.perf_counter()
        try:
            loss = fwd_bwd()
        except Exception as e:  # noqa: BLE001 - a compile error surfaces at the first call
            if not model_compiled:
                raise
            model_compiled, model_compile_error = False, f"{type(e).__name__}: {e}"
            log(f"model compile failed, running eager: {model_compile_error.splitlines()[0][:300]}")
            run_model = model
            model.zero_grad(set_to_none=True)
            loss = fwd_bwd()
        sync()
        t1 = time.perf_counter()
        optimizer.momentum = muon_momentum(i)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        sync()
        t2 = time.perf_counter()
        losses.append(loss.item())
        return t1 - t0, t2 - t1, t2 - t0

    # torch.compile compiles on the first call and may recompile on the second (grads go from
    # absent to present): at least 2 untimed steps when compiling.
    warmup = max(args.warmup, 2) if args.compile else args.warmup
    for i in range(warmup):
        fb, opt, _ = timed_step(i)
        log(f"warmup {i + 1}/{warmup}: fwd+bwd {fb * 1000:.1f} ms, optimizer {opt * 1000:.1f} ms, loss {losses[-1]:.4f}")
    # Python's GC causes stalls of hundreds of ms: off while timing, as autoresearch does.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    gc.disable()
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    fbs, opts, steps = [], [], []
    for i in range(args.steps):
        fb, opt, st = timed_step(warmup + i)
        fbs.append(fb)
        opts.append(opt)
        steps.append(st)
    gc.enable()
    peak_mb = torch.cuda.max_memory_allocated() / 2 ** 20 if on_cuda else None

    fwd_bwd_s, opt_s = median(fbs), median(opts)
    accum = args.total_batch / (args.batch * args.seq)
    full_step_s = accum * fwd_bwd_s + opt_s
    tokens_per_s = args.total_batch / full_step_s
    mfu = 100 * flops * tokens_per_s / args.peak_flops
    log(f"fwd+bwd {fwd_bwd_s * 1000:.1f} ms, optimizer {opt_s * 1000:.1f} ms, full batch (x{accum:g}) "
        f"{full_step_s * 1000:.1f} ms: {tokens_per_s:.0f} tokens/s, MFU {mfu:.1f}%"
        + (f", peak {peak_mb:.0f} MiB" if peak_mb is not None else ""))
    print(json.dumps({
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if on_cuda else "cpu",
        "compiled": model_compiled,
        "compile_error": model_compile_error,
        "optimizer_compiled": optimizer.compiled,
        "optimizer_compile_error": optimizer.compile_error,
        "embed_dtype": args.embed_dtype,
        "attention": "sdpa_causal" if hasattr(F, "scaled_dot_product_attention") else "materialised_causal",
        "batch": args.batch,
        "seq": args.seq,
        "total_batch": args.total_batch,
        "accum": accum,
        "params": n_params,
        "flops_per_token": flops,
        "flops_per_token_full_causal": flops_sdpa,
        "attn_flops_per_token_masked": masked,
        "attn_flops_per_token_masked_full_causal": masked_sdpa,
        "peak_flops": args.peak_flops,
        "warmup": warmup,
        "steps": args.steps,
        "fwd_bwd_s": fwd_bwd_s,
        "opt_s": opt_s,
        "micro_step_s": median(steps),
        "full_step_s": full_step_s,
        "tokens_per_s": tokens_per_s,
        "mfu": mfu,
        "peak_vram_mb": peak_mb,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
